#include "core/install_paths.h"

#include <system_error>

namespace alibi {

namespace fs = std::filesystem;

fs::path executable_dir() {
  std::error_code error;
  const fs::path exe = fs::read_symlink("/proc/self/exe", error);
  return error ? fs::path() : exe.parent_path();
}

std::vector<fs::path> shared_file_candidates(const fs::path& exe_dir, const std::string& name) {
  return {exe_dir.parent_path() / "share" / "alibi-lm" / name,  // installed: <prefix>/bin/..
          exe_dir / "share" / "alibi-lm" / name};               // the build tree
}

fs::path shared_file(const std::string& name) {
  const std::vector<fs::path> candidates = shared_file_candidates(executable_dir(), name);
  for (const fs::path& candidate : candidates) {
    std::error_code error;
    if (fs::exists(candidate, error)) return candidate;
  }
  return candidates.front();
}

}  // namespace alibi
