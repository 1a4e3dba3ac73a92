// Attention over a key/value cache (generation), the CPU reference.
//
// The cache holds keys and values [B,H,L,D]: row b's first lengths[b]
// positions are filled. kv_cache_write copies the keys and values of
// qkv [B,T,3,H,D] into positions starts[b] .. starts[b]+T-1. attention_decode
// takes row b's one new query (q of qkv [B,1,3,H,D]), at position
// n - 1 = lengths[b] - 1, whose own key and value are already in the cache
// (Backend::attention_decode writes them there first):
//   s_j = (q . k_j) / sqrt(D) - slopes[h] * (n - 1 - j),  j < n
//   out[b, h*D + d] = sum_j softmax(s)_j v_j[d]
// the same scores as attention_forward gives the last query of the sequence.
#pragma once

#include <cstdint>

namespace alibi::cpu {

template <typename T>
void kv_cache_write(T* k_cache, T* v_cache, const T* qkv, const int32_t* starts, int64_t B, int64_t T_new,
                    int64_t H, int64_t L, int64_t D);

// lengths[b] += added: the positions a decode step leaves for the next.
void kv_cache_advance(int32_t* lengths, int64_t B, int64_t added);

template <typename T>
void attention_decode(T* out, const T* qkv, const T* k_cache, const T* v_cache, const int32_t* lengths,
                      const T* slopes, int64_t B, int64_t H, int64_t L, int64_t D);

}  // namespace alibi::cpu
