// libFuzzer harness: the checkpoint reader and what alibi-eval builds from a
// checkpoint. The input is a checkpoint without its trailer: the harness
// appends the checksum and end marker, so the fuzzer explores the header and
// the tensor table rather than the checksum. A CheckpointError is the
// expected answer to a bad file.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/hash.h"
#include "eval/eval_checkpoint.h"
#include "train/checkpoint.h"

namespace {

std::string scratch_path() {
  return "/tmp/alibi-fuzz-checkpoint-" + std::to_string(::getpid()) + ".ckpt";
}

void write_with_trailer(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();  // the harness's own failure, not the reader's
  const uint64_t checksum = alibi::fnv1a64(data, size);
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  if (std::fwrite(&checksum, 8, 1, f) != 1 || std::fwrite("ALIBIEND", 1, 8, f) != 8) std::abort();
  std::fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = scratch_path();
  write_with_trailer(path, data, size);
  try {
    (void)alibi::load_eval_checkpoint(path);
  } catch (const alibi::CheckpointError&) {
  }
  return 0;
}
