// libFuzzer harness: the token shard reader. The input is a whole shard
// file; a DataError is the expected answer to a bad one.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "data/shard.h"
#include "fuzz_input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = alibi::fuzz::scratch_path("shard", ".bin");
  alibi::fuzz::write_input(path, data, size);
  try {
    (void)alibi::read_shard_header(path);
    alibi::ShardReader reader(path);
    // Every token the header promises is readable and inside the vocabulary.
    const int64_t count = std::min<int64_t>(reader.size(), 256);
    std::vector<int32_t> tokens(static_cast<size_t>(count));
    reader.read(0, count, tokens.data());
    for (int32_t t : tokens)
      if (t < 0 || t >= reader.vocab_size()) std::abort();
    if (reader.size() > 0) (void)reader.token(reader.size() - 1);
  } catch (const alibi::DataError&) {
  }
  return 0;
}
