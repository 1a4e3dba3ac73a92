#include "data/shard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <utility>

namespace alibi {
namespace {

// Byte-wise little-endian encoding keeps the format identical on any host.
void put_le(unsigned char* out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<unsigned char>(value >> (8 * i));
}

uint64_t get_le(const unsigned char* in, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value |= static_cast<uint64_t>(in[i]) << (8 * i);
  return value;
}

bool is_hex_id(const std::string& id) {
  if (id.size() != kTokenizerIdLength) return false;
  for (char c : id)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

std::string shard_prefix(const std::string& path) { return "shard " + path + ": "; }

void encode_header(const ShardHeader& header, unsigned char* out) {
  std::memset(out, 0, kShardHeaderSize);
  std::memcpy(out, kShardMagic, sizeof kShardMagic);
  put_le(out + 8, header.version, 4);
  put_le(out + 12, header.token_width, 4);
  put_le(out + 16, static_cast<uint64_t>(header.tokens), 8);
  put_le(out + 24, static_cast<uint64_t>(header.vocab_size), 4);
  std::memcpy(out + 32, header.tokenizer_id.data(), kTokenizerIdLength);
}

// Parses and checks a header; `file_size` lets it verify the token count.
ShardHeader decode_header(const std::string& path, const unsigned char* in, uint64_t file_size) {
  const std::string where = shard_prefix(path);
  if (std::memcmp(in, kShardMagic, sizeof kShardMagic) != 0)
    throw DataError(where + "bad magic: not an alibi-lm token shard (expected \"ALIBITOK\")");
  ShardHeader header;
  header.version = static_cast<uint32_t>(get_le(in + 8, 4));
  if (header.version != kShardVersion)
    throw DataError(where + "unsupported format version " + std::to_string(header.version) +
                    " (this build reads version " + std::to_string(kShardVersion) + ")");
  header.token_width = static_cast<uint32_t>(get_le(in + 12, 4));
  header.tokens = static_cast<int64_t>(get_le(in + 16, 8));
  header.vocab_size = static_cast<int64_t>(get_le(in + 24, 4));
  header.tokenizer_id.assign(reinterpret_cast<const char*>(in + 32), kTokenizerIdLength);
  // Token ids are int32 everywhere: a vocabulary past 2^31 - 1 would make
  // ids that pass the range check read back negative.
  if (header.vocab_size <= 0 || header.vocab_size > kMaxShardVocab)
    throw DataError(where + "header says vocab size " + std::to_string(header.vocab_size) + ", outside [1, " +
                    std::to_string(kMaxShardVocab) + "]");
  if (header.token_width != 2 && header.token_width != 4)
    throw DataError(where + "unknown token width " + std::to_string(header.token_width) +
                    " bytes (expected 2 or 4)");
  if (static_cast<int>(header.token_width) != shard_token_width(header.vocab_size))
    throw DataError(where + "token width " + std::to_string(header.token_width) +
                    " bytes does not match vocab size " + std::to_string(header.vocab_size));
  if (!is_hex_id(header.tokenizer_id))
    throw DataError(where + "tokenizer id is not 16 hex digits");
  const uint64_t data_bytes = file_size - kShardHeaderSize;
  const uint64_t count = static_cast<uint64_t>(header.tokens);
  // A corrupt count could overflow count * width; such a count is simply "more than the file holds".
  const std::string expected_bytes =
      count <= UINT64_MAX / header.token_width ? std::to_string(count * header.token_width) : "too many";
  const std::string sizes = "header says " + std::to_string(count) + " tokens (" + expected_bytes +
                            " bytes) but file holds " + std::to_string(data_bytes) + " bytes after the header";
  if (count > data_bytes / header.token_width) throw DataError(where + "truncated: " + sizes);
  if (count * header.token_width != data_bytes) throw DataError(where + "trailing bytes: " + sizes);
  return header;
}

// The index of the first token >= limit among `count` tokens of `Width`
// bytes, or -1. A block's maximum is computed branch-free (it vectorises);
// only a block that holds an offender is searched token by token.
template <int Width>
int64_t first_token_at_least(const unsigned char* tokens, int64_t count, uint64_t limit) {
  constexpr int64_t kBlock = 4096;
  for (int64_t begin = 0; begin < count; begin += kBlock) {
    const int64_t end = std::min(count, begin + kBlock);
    uint64_t max = 0;
    for (int64_t i = begin; i < end; ++i) max = std::max(max, get_le(tokens + i * Width, Width));
    if (max < limit) continue;
    for (int64_t i = begin; i < end; ++i)
      if (get_le(tokens + i * Width, Width) >= limit) return i;
  }
  return -1;
}

int open_or_throw(const std::string& path, uint64_t* size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw DataError(shard_prefix(path) + "cannot open: " + std::strerror(errno));
  struct stat info{};
  if (::fstat(fd, &info) != 0) {
    ::close(fd);
    throw DataError(shard_prefix(path) + "cannot stat: " + std::strerror(errno));
  }
  *size = static_cast<uint64_t>(info.st_size);
  if (*size < kShardHeaderSize) {
    ::close(fd);
    throw DataError(shard_prefix(path) + "truncated: file holds " + std::to_string(*size) +
                    " bytes, less than the " + std::to_string(kShardHeaderSize) + "-byte header");
  }
  return fd;
}

}  // namespace

int shard_token_width(int64_t vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

// ---------------------------------------------------------------------------
// ShardWriter
// ---------------------------------------------------------------------------

ShardWriter::ShardWriter(std::string path, int64_t vocab_size, std::string tokenizer_id)
    : path_(std::move(path)), temp_path_(path_ + ".tmp") {
  if (vocab_size <= 0 || vocab_size > kMaxShardVocab)
    fail("vocab size " + std::to_string(vocab_size) + " out of range [1, " + std::to_string(kMaxShardVocab) + "]");
  if (!is_hex_id(tokenizer_id)) fail("tokenizer id \"" + tokenizer_id + "\" is not 16 hex digits");
  header_.vocab_size = vocab_size;
  header_.token_width = static_cast<uint32_t>(shard_token_width(vocab_size));
  header_.tokenizer_id = std::move(tokenizer_id);
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (!file_) fail(std::string("cannot create ") + temp_path_ + ": " + std::strerror(errno));
  // Placeholder header; finish() rewrites it once the count is known.
  unsigned char header[kShardHeaderSize];
  encode_header(header_, header);
  if (std::fwrite(header, 1, sizeof header, file_) != sizeof header) fail("write failed");
}

ShardWriter::~ShardWriter() {
  if (file_) {
    std::fclose(file_);
    std::remove(temp_path_.c_str());
  }
}

void ShardWriter::fail(const std::string& what) const { throw DataError(shard_prefix(path_) + what); }

void ShardWriter::append(const int32_t* tokens, size_t count) {
  if (!file_) fail("append after finish");
  const int width = static_cast<int>(header_.token_width);
  staging_.resize(count * width);
  for (size_t i = 0; i < count; ++i) {
    if (tokens[i] < 0 || tokens[i] >= header_.vocab_size)
      fail("token " + std::to_string(tokens[i]) + " at position " + std::to_string(count_ + i) +
           " is outside the vocabulary [0, " + std::to_string(header_.vocab_size) + ")");
    put_le(&staging_[i * width], static_cast<uint32_t>(tokens[i]), width);
  }
  if (std::fwrite(staging_.data(), 1, staging_.size(), file_) != staging_.size())
    fail(std::string("write failed: ") + std::strerror(errno));
  count_ += static_cast<int64_t>(count);
}

void ShardWriter::finish() {
  if (!file_) fail("finish called twice");
  header_.tokens = count_;
  unsigned char header[kShardHeaderSize];
  encode_header(header_, header);
  bool ok = std::fseek(file_, 0, SEEK_SET) == 0 &&
            std::fwrite(header, 1, sizeof header, file_) == sizeof header &&
            std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  ok = (std::fclose(file_) == 0) && ok;
  file_ = nullptr;
  if (!ok || std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    std::string reason = std::strerror(errno);
    std::remove(temp_path_.c_str());
    fail("cannot finish writing: " + reason);
  }
}

void write_shard(const std::string& path, int64_t vocab_size, const std::string& tokenizer_id,
                 const std::vector<int32_t>& tokens) {
  ShardWriter writer(path, vocab_size, tokenizer_id);
  writer.append(tokens);
  writer.finish();
}

// ---------------------------------------------------------------------------
// ShardReader
// ---------------------------------------------------------------------------

ShardHeader read_shard_header(const std::string& path) {
  uint64_t size = 0;
  int fd = open_or_throw(path, &size);
  unsigned char header[kShardHeaderSize];
  ssize_t got = ::pread(fd, header, sizeof header, 0);
  ::close(fd);
  if (got != static_cast<ssize_t>(sizeof header)) throw DataError(shard_prefix(path) + "cannot read header");
  return decode_header(path, header, size);
}

ShardReader::ShardReader(const std::string& path) : path_(path) {
  uint64_t size = 0;
  int fd = open_or_throw(path, &size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);  // the mapping stays valid after close
  if (map == MAP_FAILED) throw DataError(shard_prefix(path) + "cannot mmap: " + std::strerror(errno));
  map_ = static_cast<const unsigned char*>(map);
  map_size_ = size;
  try {
    header_ = decode_header(path, map_, size);
    check_token_ids();
  } catch (...) {
    release();
    throw;
  }
}

// Once, at load: a corrupt id is reported with the file and its place, not
// later by whatever window happens to draw it.
void ShardReader::check_token_ids() const {
  const uint64_t vocab = static_cast<uint64_t>(header_.vocab_size);
  const int width = static_cast<int>(header_.token_width);
  if (width == 2 && vocab >= 65536) return;  // every u16 id is in the vocabulary
  const unsigned char* tokens = map_ + kShardHeaderSize;
  const int64_t bad = width == 2 ? first_token_at_least<2>(tokens, header_.tokens, vocab)
                                 : first_token_at_least<4>(tokens, header_.tokens, vocab);
  if (bad < 0) return;
  throw DataError(shard_prefix(path_) + "token id " + std::to_string(get_le(tokens + bad * width, width)) +
                  " at token " + std::to_string(bad) + " (byte offset " +
                  std::to_string(kShardHeaderSize + static_cast<uint64_t>(bad) * width) +
                  ") is outside the vocabulary [0, " + std::to_string(vocab) + ")");
}

ShardReader::~ShardReader() { release(); }

ShardReader::ShardReader(ShardReader&& other) noexcept
    : path_(std::move(other.path_)), header_(std::move(other.header_)),
      map_(std::exchange(other.map_, nullptr)), map_size_(std::exchange(other.map_size_, 0)) {}

ShardReader& ShardReader::operator=(ShardReader&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    header_ = std::move(other.header_);
    map_ = std::exchange(other.map_, nullptr);
    map_size_ = std::exchange(other.map_size_, 0);
  }
  return *this;
}

void ShardReader::release() {
  if (map_) ::munmap(const_cast<unsigned char*>(map_), map_size_);
  map_ = nullptr;
  map_size_ = 0;
}

void ShardReader::check_range(int64_t start, int64_t count) const {
  if (start < 0 || count < 0 || start > header_.tokens - count)
    throw DataError(shard_prefix(path_) + "read of tokens [" + std::to_string(start) + ", " +
                    std::to_string(start + count) + ") is outside [0, " + std::to_string(header_.tokens) +
                    ")");
}

int32_t ShardReader::token(int64_t i) const {
  check_range(i, 1);
  const int width = static_cast<int>(header_.token_width);
  return static_cast<int32_t>(get_le(map_ + kShardHeaderSize + i * width, width));
}

void ShardReader::read(int64_t start, int64_t count, int32_t* out) const {
  check_range(start, count);
  const unsigned char* data = map_ + kShardHeaderSize;
  if (header_.token_width == 2) {
    for (int64_t i = 0; i < count; ++i) out[i] = static_cast<int32_t>(get_le(data + (start + i) * 2, 2));
  } else {
    for (int64_t i = 0; i < count; ++i) out[i] = static_cast<int32_t>(get_le(data + (start + i) * 4, 4));
  }
}

}  // namespace alibi
