// Token shards: one split of a tokenized corpus as a flat array of token ids
// behind a fixed 64-byte header (docs/data.md has the byte-by-byte layout).
//
//   offset  size  field
//        0     8  magic "ALIBITOK"
//        8     4  format version (u32, currently 1)
//       12     4  token width in bytes (u32: 2 = u16 tokens, 4 = u32 tokens)
//       16     8  token count (u64)
//       24     4  vocab size (u32)
//       28     4  reserved, zero
//       32    16  tokenizer id (16 ASCII hex digits)
//       48    16  reserved, zero
//       64     …  tokens, little-endian
//
// Tokens are u16 whenever the vocabulary fits (halves disk and page cache).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "data/data_error.h"

namespace alibi {

inline constexpr char kShardMagic[8] = {'A', 'L', 'I', 'B', 'I', 'T', 'O', 'K'};
inline constexpr uint32_t kShardVersion = 1;
inline constexpr size_t kShardHeaderSize = 64;
inline constexpr size_t kTokenizerIdLength = 16;

// Token ids are int32: the largest vocabulary a shard may have.
inline constexpr int64_t kMaxShardVocab = 2147483647;

// Bytes per token for a vocabulary of this size: 2 when every id fits a u16.
int shard_token_width(int64_t vocab_size);

struct ShardHeader {
  uint32_t version = kShardVersion;
  uint32_t token_width = 2;  // bytes per token
  int64_t tokens = 0;
  int64_t vocab_size = 0;
  std::string tokenizer_id;  // 16 hex digits
};

// Streams tokens into `path`. The data goes to `path + ".tmp"` first and is
// renamed into place by finish(), so a crash never leaves a plausible-looking
// but incomplete shard behind.
class ShardWriter {
 public:
  ShardWriter(std::string path, int64_t vocab_size, std::string tokenizer_id);
  ~ShardWriter();  // removes the temp file if finish() was never reached
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Throws DataError when a token is negative or >= vocab size.
  void append(const int32_t* tokens, size_t count);
  void append(const std::vector<int32_t>& tokens) { append(tokens.data(), tokens.size()); }
  int64_t tokens_written() const { return count_; }
  // Writes the final header, flushes and atomically renames into place.
  void finish();

 private:
  void fail(const std::string& what) const;

  std::string path_;
  std::string temp_path_;
  ShardHeader header_;
  std::FILE* file_ = nullptr;
  int64_t count_ = 0;
  std::vector<unsigned char> staging_;  // tokens converted to on-disk width
};

// One-call convenience around ShardWriter.
void write_shard(const std::string& path, int64_t vocab_size, const std::string& tokenizer_id,
                 const std::vector<int32_t>& tokens);

// Maps a shard read-only and validates its header against the file size,
// and every token id against the vocabulary (one linear scan). Any
// inconsistency throws DataError naming the file and the problem.
class ShardReader {
 public:
  explicit ShardReader(const std::string& path);
  ~ShardReader();
  ShardReader(ShardReader&& other) noexcept;
  ShardReader& operator=(ShardReader&& other) noexcept;
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  const std::string& path() const { return path_; }
  const ShardHeader& header() const { return header_; }
  int64_t size() const { return header_.tokens; }
  int64_t vocab_size() const { return header_.vocab_size; }
  const std::string& tokenizer_id() const { return header_.tokenizer_id; }

  int32_t token(int64_t i) const;
  // Copies tokens [start, start + count) into out; throws when out of range.
  void read(int64_t start, int64_t count, int32_t* out) const;

 private:
  void release();
  void check_range(int64_t start, int64_t count) const;
  void check_token_ids() const;

  std::string path_;
  ShardHeader header_;
  const unsigned char* map_ = nullptr;
  size_t map_size_ = 0;
};

// Reads and validates just the header (used by dataset checks).
ShardHeader read_shard_header(const std::string& path);

}  // namespace alibi
