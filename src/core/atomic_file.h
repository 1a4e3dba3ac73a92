// Writing a file so that readers see either the old content or the new one,
// never a torn mix: write a temporary sibling, fsync it, rename it over the
// target, fsync the directory.
#pragma once

#include <cstdio>
#include <functional>
#include <string>

namespace alibi {

// `write` fills the open temporary file; it returns false (or throws) to
// abandon the write, leaving the target untouched. Throws std::runtime_error
// naming the path on any I/O failure (a full disk, say).
void write_file_atomically(const std::string& path, const std::function<void(std::FILE*)>& write);
void write_text_atomically(const std::string& path, const std::string& text);

// Creates the directory and its parents; throws naming the path on failure.
void make_directories(const std::string& path);

// Creates the directory and checks that a file can be created in it (a probe
// file, created and removed), so that a read-only or foreign folder fails at
// the start of a run, not at its first save. Throws std::runtime_error naming
// `what` (the config key), the path and the system's reason.
void check_directory_writable(const std::string& dir, const std::string& what);

}  // namespace alibi
