#include "data/encode.h"

#include <omp.h>

#include <algorithm>
#include <string_view>

#include "data/text.h"

namespace alibi {
namespace {

// Lines per parallel task and tasks per block handed to the sink: large
// enough to amortize scheduling, small enough to bound memory.
constexpr size_t kLinesPerChunk = 512;
constexpr size_t kChunksPerBlock = 256;

std::vector<std::string_view> nonblank_lines(const std::vector<Document>& documents) {
  std::vector<std::string_view> lines;
  for (const Document& document : documents)
    for (std::string_view line : split_lines(document.text))
      if (!is_blank_line(line)) lines.push_back(line);
  return lines;
}

std::vector<int32_t> encode_chunk(const Tokenizer& tokenizer, const std::vector<std::string_view>& lines,
                                  size_t begin, size_t end) {
  std::vector<int32_t> tokens;
  for (size_t i = begin; i < end; ++i) {
    std::vector<int32_t> ids = tokenizer.encode(lines[i]);
    tokens.insert(tokens.end(), ids.begin(), ids.end());
    tokens.push_back(tokenizer.eos_id());
  }
  return tokens;
}

}  // namespace

int64_t encode_documents(const Tokenizer& tokenizer, const std::vector<Document>& documents, int threads,
                         const TokenSink& sink) {
  const std::vector<std::string_view> lines = nonblank_lines(documents);
  const size_t chunks = (lines.size() + kLinesPerChunk - 1) / kLinesPerChunk;
  const int thread_count = threads > 0 ? threads : omp_get_max_threads();
  int64_t total = 0;
  for (size_t block_start = 0; block_start < chunks; block_start += kChunksPerBlock) {
    const size_t block_end = std::min(chunks, block_start + kChunksPerBlock);
    std::vector<std::vector<int32_t>> encoded(block_end - block_start);
    std::string failure;
#pragma omp parallel for schedule(dynamic, 1) num_threads(thread_count)
    for (size_t chunk = block_start; chunk < block_end; ++chunk) {
      try {
        const size_t begin = chunk * kLinesPerChunk;
        encoded[chunk - block_start] = encode_chunk(tokenizer, lines, begin, std::min(lines.size(), begin + kLinesPerChunk));
      } catch (const std::exception& error) {  // exceptions must not escape an OpenMP region
#pragma omp critical
        failure = error.what();
      }
    }
    if (!failure.empty()) throw DataError(failure);
    for (const std::vector<int32_t>& tokens : encoded) {
      sink(tokens);
      total += static_cast<int64_t>(tokens.size());
    }
  }
  return total;
}

}  // namespace alibi
