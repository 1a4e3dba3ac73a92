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

}  // namespace alibi
