// Small file helpers shared by the data pipeline; all failures are DataErrors
// naming the path.
#pragma once

#include <string>
#include <vector>

#include "data/data_error.h"

namespace alibi {

// The whole file as bytes.
std::string read_file_bytes(const std::string& path);

// Writes `bytes` to path + ".tmp" and renames it over `path`, so readers see
// either the old file or the complete new one.
void write_file_atomically(const std::string& path, const std::string& bytes);

// Regular files directly inside `dir`, as full paths sorted by file name (so
// document order never depends on the file system).
std::vector<std::string> list_files_sorted(const std::string& dir);

}  // namespace alibi
