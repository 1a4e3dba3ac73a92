// Content hashes for integrity checks (checkpoints) and identities
// (tokenizers). Not cryptographic: they catch corruption, not tampering.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace alibi {

// 64-bit FNV-1a, streamable: pass the previous result as `state` to continue.
constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
uint64_t fnv1a64(const void* data, size_t size, uint64_t state = kFnvOffset);

// 16 lowercase hex digits.
std::string hex64(uint64_t value);

}  // namespace alibi
