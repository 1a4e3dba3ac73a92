// Where a binary finds the data files that come with it, in the build tree
// (build/alibi-eval, build/share/alibi-lm/...) and once installed
// (<prefix>/bin/alibi-eval, <prefix>/share/alibi-lm/...): relative to the
// executable, so neither depends on the source tree or the working directory.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace alibi {

// The directory of the running executable (/proc/self/exe); empty if unknown.
std::filesystem::path executable_dir();

// Where `name` may be for a binary in `exe_dir`, in the order looked at.
std::vector<std::filesystem::path> shared_file_candidates(const std::filesystem::path& exe_dir,
                                                          const std::string& name);

// The first candidate that exists for this executable; the installed
// location (the first candidate) when none does, for the error message.
std::filesystem::path shared_file(const std::string& name);

}  // namespace alibi
