// Attention over a key/value cache (generation) on bf16 caches [B,H,L,D];
// the math is cpu/attention_decode.h's. Split over the keys (flash-decoding):
// each block scores one chunk of one (row, head) and leaves its max, sum and
// weighted values; the last block of a (row, head) to finish combines them. The new token's key and
// value go into the cache in the same launch (no kv_cache_write per step). The chunks are sized
// for four blocks on every SM, so a single row still spreads over the whole
// GPU; keys are read in 16-byte pieces, a team of lanes per key.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace alibi::cuda {

struct KvCacheDims {
  int64_t B, H, L, D;
};

// Positions outside the cache are skipped rather than written out of bounds.
void kv_cache_write(__nv_bfloat16* k_cache, __nv_bfloat16* v_cache, const __nv_bfloat16* qkv,
                    const int32_t* starts, int64_t T, KvCacheDims dims, cudaStream_t stream);

// lengths[b] += added for b < B (Backend::kv_cache_advance).
void kv_cache_advance(int32_t* lengths, int64_t B, int64_t added, cudaStream_t stream);

size_t attention_decode_workspace_bytes(KvCacheDims dims);

// Row b's token (qkv [B,1,3,H,D]) at position lengths[b] - 1: its key and
// value written there (by the block whose split holds it), then its query
// over the row's keys. Lengths are clamped to [0, L]; a row of length 0 gets
// zeros and writes nothing.
// counters: B * H ints, zero on entry and zero again when the kernel ends
// (the last split of each row and head to finish counts it back down).
void attention_decode(__nv_bfloat16* out, const __nv_bfloat16* qkv, __nv_bfloat16* k_cache, __nv_bfloat16* v_cache,
                      const int32_t* lengths, const float* slopes, KvCacheDims dims, void* workspace,
                      size_t workspace_bytes, int* counters, cudaStream_t stream);

}  // namespace alibi::cuda
