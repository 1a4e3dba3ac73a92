// Turns documents into the token stream of a shard: every non-blank line is
// encoded and followed by EOS; documents and lines keep their order. Blank
// lines carry no text, so they add no EOS either.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "data/corpus.h"
#include "data/tokenizer.h"

namespace alibi {

using TokenSink = std::function<void(const std::vector<int32_t>&)>;

// Encodes on `threads` threads (0 = all cores) and passes the tokens to
// `sink` in corpus order, a block at a time, so memory stays bounded. The
// output never depends on the thread count. Returns the token count.
int64_t encode_documents(const Tokenizer& tokenizer, const std::vector<Document>& documents, int threads,
                         const TokenSink& sink);

}  // namespace alibi
