// Launch of the Hopper forward kernel (attention_forward_sm90.cuh): the
// choice of its tiling (measurement switches below), the TMA tensor map over
// qkv (tensor_map.cuh) and the grid.
#include "kernels/attention_forward_sm90.cuh"

#include <algorithm>
#include <climits>

#include "kernels/attention_launch.cuh"
#include "kernels/common.cuh"
#include "kernels/tensor_map.cuh"

namespace alibi::cuda {
namespace {

// The measuring switches (AttentionTuning; defaults and their H200 timings:
// docs/results/attention_sm90.md): pingpong (the consumers take turns
// issuing products), forward_stages (2 or 3 stages of the K/V ring),
// blocks_major (the items' order), forward_persistent (a CTA an SM taking
// many items, or a CTA an item), forward_consumers_d64: two consumer
// warpgroups (128-row query blocks) or three (192-row blocks,
// FlashAttention-3's tiles) at D = 64. By default three from 2048 tokens on,
// two below (H200, ALiBi, 16k tokens a call: three are 10% slower at
// L = 1024, where a third of the last block is padding, and 3%, 7%, 14%
// faster at 2048, 4096, 16384). D = 128 always has two: there a consumer's
// S, P and O alone would fill the 160 registers three consumers get.
int consumers_at_d64(const AttentionTuning& t, int64_t T) {
  if (t.forward_consumers_d64 == 2 || t.forward_consumers_d64 == 3) return t.forward_consumers_d64;
  return T >= 2048 ? 3 : 2;
}

template <class Tr, bool kPingPong>
cudaError_t launch(const CUtensorMap& map, Sm90ForwardArgs args, const AttentionLaunch& l) {
  const auto kernel = attention_forward_sm90_kernel<Tr, kPingPong>;
  const size_t smem = Sm90ForwardSmem<Tr>::bytes();
  if (const cudaError_t st = allow_shared_memory(kernel, smem); st != cudaSuccess) return st;
  args.blocks_major = l.tuning.blocks_major;
  const int64_t items = l.B * l.layout.H * ((l.layout.T + Tr::kBlockM - 1) / Tr::kBlockM);
  if (items == 0) return cudaSuccess;
  // Persistent: a CTA an SM (one fits: __launch_bounds__(kThreads, 1)).
  const int64_t ctas = l.tuning.forward_persistent ? std::min<int64_t>(items, multiprocessor_count()) : items;
  if (ctas > int64_t(INT32_MAX)) return cudaErrorInvalidConfiguration;
  kernel<<<unsigned(ctas), Tr::kThreads, smem, l.stream>>>(map, args);
  return cudaGetLastError();
}

// One tensor map serves Q and K/V: its box height divides both the query
// block and the key tile (Tr::kBoxRows).
template <class Tr>
cudaError_t launch_with_traits(const bf16* qkv, const Sm90ForwardArgs& args,
                               const AttentionLaunch& l) {
  CUtensorMap map;
  if (const cudaError_t st = encode_rows_map(&map, qkv, l.layout.D, 3 * l.layout.H,
                                             l.B * l.layout.T, Tr::kBoxRows);
      st != cudaSuccess)
    return st;
  return l.tuning.pingpong ? launch<Tr, true>(map, args, l) : launch<Tr, false>(map, args, l);
}

template <int D, int kConsumers>
cudaError_t launch_with_consumers(const bf16* qkv, const Sm90ForwardArgs& args,
                                  const AttentionLaunch& l) {
  return l.tuning.forward_stages == 2 ? launch_with_traits<ForwardSm90Traits<D, 2, kConsumers>>(qkv, args, l)
                       : launch_with_traits<ForwardSm90Traits<D, 3, kConsumers>>(qkv, args, l);
}

}  // namespace

template <int D>
cudaError_t launch_attention_forward_sm90(bf16* out, float* lse, const bf16* qkv,
                                          const float* slopes, const float* key_bounds,
                                          const AttentionLaunch& l) {
  const KeySkipBounds key_skip{key_bounds, KeySkipBounds::blocks_of(l.layout.T)};
  const Sm90ForwardArgs args{out, lse, slopes, l.layout, /*blocks_major, set by launch:*/ false,
                             key_skip, l.B};
  if constexpr (D == 64)
    if (consumers_at_d64(l.tuning, l.layout.T) == 3) return launch_with_consumers<D, 3>(qkv, args, l);
  return launch_with_consumers<D, 2>(qkv, args, l);
}

template cudaError_t launch_attention_forward_sm90<64>(bf16*, float*, const bf16*, const float*,
                                                       const float*, const AttentionLaunch&);
template cudaError_t launch_attention_forward_sm90<80>(bf16*, float*, const bf16*, const float*,
                                                       const float*, const AttentionLaunch&);
template cudaError_t launch_attention_forward_sm90<96>(bf16*, float*, const bf16*, const float*,
                                                       const float*, const AttentionLaunch&);
template cudaError_t launch_attention_forward_sm90<128>(bf16*, float*, const bf16*, const float*,
                                                        const float*, const AttentionLaunch&);

}  // namespace alibi::cuda
