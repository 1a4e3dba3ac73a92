// `cmake --install` gives binaries that work away from the source and build
// trees: --version names the release and commit, and the data files they
// look for are where they look.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/install_paths.h"
#include "support/temp_dir.h"
#include "support/test_data.h"

namespace alibi {
namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Install, InstalledBinariesRunFromAnywhereAndFindTheirFiles) {
  const std::string build = testing::bin_dir();
  if (!fs::exists(build + "/cmake_install.cmake")) GTEST_SKIP() << build << " is not a CMake build tree";
  testing::TempDir prefix("install");
  ASSERT_EQ(testing::run_command("cmake --install " + build + " --prefix " + prefix.path() + " > " +
                                 prefix.file("install.log") + " 2>&1"),
            0)
      << read_file(prefix.file("install.log"));
  for (const char* tool : {"alibi-train", "alibi-data", "alibi-eval", "alibi-bench", "alibi-generate", "alibi-export"}) {
    const std::string out = prefix.file(std::string(tool) + ".version");
    // From the root directory: nothing may depend on the working directory.
    ASSERT_EQ(testing::run_command("cd / && " + prefix.file("bin/") + tool + " --version > " + out + " 2>&1"), 0)
        << tool << ": " << read_file(out);
    const std::string version = read_file(out);
    EXPECT_EQ(version.rfind("alibi-lm ", 0), 0u) << tool << ": " << version;
    EXPECT_NE(version.find("(commit "), std::string::npos) << tool << ": " << version;
  }
  // The plot script where an installed binary looks for it.
  const fs::path script = shared_file_candidates(prefix.path() + "/bin", "plot_eval.sh").front();
  EXPECT_TRUE(fs::exists(script)) << script;
  EXPECT_TRUE(fs::exists(prefix.file("share/alibi-lm/configs/gpt2-124m.yaml")));
}

TEST(InstallPaths, TheInstalledLayoutFirstThenTheBuildTree) {
  const std::vector<fs::path> c = shared_file_candidates("/opt/alibi/bin", "plot_eval.sh");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0], fs::path("/opt/alibi/share/alibi-lm/plot_eval.sh"));
  EXPECT_EQ(c[1], fs::path("/opt/alibi/bin/share/alibi-lm/plot_eval.sh"));
}

TEST(InstallPaths, TheBuildTreeHasThePlotScriptBesideTheBinaries) {
  const std::string build = testing::bin_dir();
  if (!fs::exists(build + "/cmake_install.cmake")) GTEST_SKIP() << build << " is not a CMake build tree";
  EXPECT_TRUE(fs::exists(shared_file_candidates(build, "plot_eval.sh")[1]));
}

}  // namespace
}  // namespace alibi
