#include "data/corpus.h"

#include <filesystem>

#include "data/files.h"
#include "data/text.h"

namespace alibi {
namespace {

namespace fs = std::filesystem;

std::string file_name_of(const std::string& path) { return fs::path(path).filename().string(); }

// Hidden files (editor backups, .DS_Store) are never documents.
bool is_candidate(const std::string& name, CorpusFormat format) {
  if (name.empty() || name[0] == '.') return false;
  return format != CorpusFormat::kBrown || is_brown_document_name(name);
}

Document read_document(const std::string& path, CorpusFormat format) {
  std::string raw = read_file_bytes(path);
  Document document{file_name_of(path), {}};
  document.text = format == CorpusFormat::kBrown ? brown_document_text(raw) : std::move(raw);
  return document;
}

}  // namespace

CorpusFormat parse_corpus_format(const std::string& name) {
  if (name == "text") return CorpusFormat::kText;
  if (name == "brown") return CorpusFormat::kBrown;
  throw DataError("unknown corpus format \"" + name + "\" (expected text or brown)");
}

const char* corpus_format_name(CorpusFormat format) {
  return format == CorpusFormat::kBrown ? "brown" : "text";
}

bool is_brown_document_name(std::string_view name) {
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  return name.size() == 4 && name[0] == 'c' && name[1] >= 'a' && name[1] <= 'r' && is_digit(name[2]) &&
         is_digit(name[3]);
}

std::string strip_brown_tags(std::string_view line) {
  std::string words;
  size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && is_space_char(line[pos])) ++pos;
    size_t end = pos;
    while (end < line.size() && !is_space_char(line[end])) ++end;
    if (end == pos) break;
    std::string_view token = line.substr(pos, end - pos);
    size_t slash = token.rfind('/');
    std::string_view word = slash == std::string_view::npos || slash == 0 ? token : token.substr(0, slash);
    if (!words.empty()) words += ' ';
    words.append(word);
    pos = end;
  }
  return words;
}

std::string brown_document_text(std::string_view raw) {
  std::string text;
  for (std::string_view line : split_lines(raw)) {
    if (is_blank_line(line)) continue;
    text += strip_brown_tags(line);
    text += '\n';
  }
  return text;
}

std::vector<Document> read_corpus(const std::string& path, CorpusFormat format) {
  std::error_code error;
  if (!fs::exists(path, error)) throw DataError("corpus path " + path + " does not exist");
  if (!fs::is_directory(path, error)) return {read_document(path, format)};
  std::vector<Document> documents;
  for (const std::string& file : list_files_sorted(path))
    if (is_candidate(file_name_of(file), format)) documents.push_back(read_document(file, format));
  if (documents.empty())
    throw DataError("corpus folder " + path + " holds no " +
                    (format == CorpusFormat::kBrown ? std::string("Brown document files (ca01 ... cr09)")
                                                    : std::string("files")));
  return documents;
}

}  // namespace alibi
