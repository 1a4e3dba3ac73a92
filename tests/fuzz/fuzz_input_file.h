// How the file-reading harnesses hand an input to a reader: through a
// scratch file of this process's own (libFuzzer's -jobs workers run side by
// side), written whole before each run.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace alibi::fuzz {

// /tmp/alibi-fuzz-<name>-<pid><extension>
inline std::string scratch_path(const std::string& name, const std::string& extension) {
  return "/tmp/alibi-fuzz-" + name + "-" + std::to_string(::getpid()) + extension;
}

// path = data, then `trailer`. Aborts on a write failure: the harness's own
// failure, not the reader's.
inline void write_input(const std::string& path, const uint8_t* data, size_t size, const std::string& trailer = "") {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  if (!trailer.empty() && std::fwrite(trailer.data(), 1, trailer.size(), f) != trailer.size()) std::abort();
  if (std::fclose(f) != 0) std::abort();
}

}  // namespace alibi::fuzz
