// docs/environment.md lists every environment variable the code reads: each
// quoted "ALIBI_..." name (and PEAK_TFLOPS, MASTER_ADDR, MASTER_PORT) in
// src/ and kernels/ must appear on that page, so a new switch cannot stay
// invisible.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace alibi {
namespace {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::set<std::string> variables_named_in_code() {
  const std::regex quoted_name("\"((ALIBI_[A-Z0-9_]+)|PEAK_TFLOPS|MASTER_ADDR|MASTER_PORT)\"");
  std::set<std::string> names;
  for (const char* dir : {"src", "kernels"})
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(std::filesystem::path(ALIBI_SOURCE_DIR) / dir)) {
      const std::string ext = entry.path().extension().string();
      if (ext != ".cpp" && ext != ".h" && ext != ".cu" && ext != ".cuh") continue;
      const std::string text = read_all(entry.path());
      for (std::sregex_iterator m(text.begin(), text.end(), quoted_name), end; m != end; ++m)
        names.insert((*m)[1].str());
    }
  return names;
}

TEST(EnvironmentDocs, EveryVariableTheCodeReadsIsListed) {
  const std::string page = read_all(std::filesystem::path(ALIBI_SOURCE_DIR) / "docs/environment.md");
  ASSERT_FALSE(page.empty()) << "docs/environment.md is missing";
  const std::set<std::string> names = variables_named_in_code();
  EXPECT_GE(names.size(), 10u) << "the scan found too few names: the pattern no longer matches the code";
  for (const std::string& name : names)
    EXPECT_NE(page.find("`" + name + "`"), std::string::npos) << name << " is read by the code but not in docs/environment.md";
}

TEST(EnvironmentDocs, NoKernelReadsTheEnvironment) {
  // Switches reach kernels through AttentionTuning, read once by the backend.
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::path(ALIBI_SOURCE_DIR) / "kernels")) {
    if (entry.path().filename() == "attention.cu") continue;  // AttentionTuning::from_environment
    EXPECT_EQ(read_all(entry.path()).find("getenv"), std::string::npos) << entry.path();
  }
}

}  // namespace
}  // namespace alibi
