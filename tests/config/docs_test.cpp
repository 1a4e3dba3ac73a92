// docs/config.md and --help are rendered from the key table; the checked-in
// docs/config.md must match what the table renders today.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "config/config.h"
#include "config/schema.h"

namespace alibi {
namespace {

const std::string kDocsPath = std::string(ALIBI_SOURCE_DIR) + "/docs/config.md";

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// 1-based number of the first line where the texts differ, for the failure message.
size_t first_differing_line(const std::string& a, const std::string& b) {
  size_t at = std::mismatch(a.begin(), a.begin() + std::min(a.size(), b.size()), b.begin()).first -
              a.begin();
  return std::count(a.begin(), a.begin() + at, '\n') + 1;
}

TEST(ConfigDocs, MarkdownIsUpToDate) {
  const std::string rendered = config_reference_markdown();
  const char* update = std::getenv("ALIBI_UPDATE_DOCS");
  if (update && std::string(update) == "1") {
    std::ofstream(kDocsPath, std::ios::binary) << rendered;
  }
  const std::string checked_in = read_file(kDocsPath);
  EXPECT_TRUE(checked_in == rendered)
      << "docs/config.md is out of date; regenerate with: ALIBI_UPDATE_DOCS=1 ctest -R ConfigDocs"
      << " (first difference at line " << first_differing_line(checked_in, rendered) << ")";
}

TEST(ConfigDocs, MarkdownAndHelpListEveryKey) {
  const std::string markdown = config_reference_markdown();
  const std::string help = config_reference_text();
  for (const ConfigKey& key : config_keys()) {
    SCOPED_TRACE(key.name);
    EXPECT_NE(markdown.find("| `" + key.name + "` |"), std::string::npos);
    EXPECT_NE(help.find("  " + key.name + " "), std::string::npos);
    EXPECT_NE(help.find(key.doc), std::string::npos);
  }
  for (const CrossKeyRule& rule : config_cross_key_rules()) {
    EXPECT_NE(markdown.find(rule.doc), std::string::npos) << rule.doc;
  }
}

TEST(ConfigDocs, MarkdownShowsDefaultsAndRanges) {
  const std::string markdown = config_reference_markdown();
  EXPECT_NE(markdown.find("| `model.dropout` | float | `0.0` | `[0, 1)` |"), std::string::npos);
  EXPECT_NE(markdown.find("| `data.dir` | string | *required* | non-empty |"), std::string::npos);
  EXPECT_NE(markdown.find("| `model.position` | enum | `alibi` | `alibi`, `sinusoidal`"),
            std::string::npos);
}

}  // namespace
}  // namespace alibi
