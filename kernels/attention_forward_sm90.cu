// Launch of the Hopper forward kernel (attention_forward_sm90.cuh): the TMA
// tensor map over qkv (tensor_map.cuh) and the grid.
#include <cstdlib>
#include <cstring>

#include "kernels/attention_forward_sm90.cuh"
#include "kernels/attention_launch.cuh"
#include "kernels/tensor_map.cuh"

namespace alibi::cuda {
namespace {

// Measurement switches (defaults and their H200 timings: docs/results/attention_sm90.md):
//   ALIBI_SM90_PINGPONG=0   the consumers do not take turns issuing products;
//   ALIBI_SM90_STAGES=2|3   shared-memory stages of the K/V ring;
//   ALIBI_SM90_ORDER=heads  grid (query blocks, B*H): one head's blocks after another.
const char* env(const char* name) { return std::getenv(name); }
bool pingpong_enabled() {
  const char* v = env("ALIBI_SM90_PINGPONG");
  return v == nullptr || std::strcmp(v, "0") != 0;
}
int stages() {
  const char* v = env("ALIBI_SM90_STAGES");
  return v != nullptr && std::strcmp(v, "2") == 0 ? 2 : v != nullptr && std::strcmp(v, "3") == 0 ? 3
                                                                                  : kSm90DefaultStages;
}
bool blocks_major() {
  const char* v = env("ALIBI_SM90_ORDER");
  return v == nullptr || std::strcmp(v, "heads") != 0;
}

template <class Tr, bool kPingPong>
cudaError_t launch(const CUtensorMap& map, const Sm90ForwardArgs& args, const AttentionLaunch& l) {
  const auto kernel = attention_forward_sm90_kernel<Tr, kPingPong>;
  const size_t smem = Sm90ForwardSmem<Tr>::bytes();
  if (const cudaError_t st = allow_shared_memory(kernel, smem); st != cudaSuccess) return st;
  const unsigned blocks = unsigned((l.layout.T + Tr::kBlockM - 1) / Tr::kBlockM);
  const unsigned heads = unsigned(l.B * l.layout.H);
  const dim3 grid = args.blocks_major ? dim3(heads, blocks) : dim3(blocks, heads);
  kernel<<<grid, Tr::kThreads, smem, l.stream>>>(map, args);
  return cudaGetLastError();
}

template <int D, int kStages>
cudaError_t launch_with_stages(const bf16* qkv, const Sm90ForwardArgs& args,
                               const AttentionLaunch& l) {
  using Tr = ForwardSm90Traits<D, kStages>;
  static_assert(Tr::kBlockM == Tr::kBlockN, "one box height serves Q and K/V");
  CUtensorMap map;
  if (const cudaError_t st = encode_rows_map(&map, qkv, l.layout.D, 3 * l.layout.H, l.B * l.layout.T, Tr::kBlockN);
      st != cudaSuccess)
    return st;
  return pingpong_enabled() ? launch<Tr, true>(map, args, l) : launch<Tr, false>(map, args, l);
}

}  // namespace

template <int D>
cudaError_t launch_attention_forward_sm90(bf16* out, float* lse, const bf16* qkv,
                                          const float* slopes, const float* key_bounds,
                                          const AttentionLaunch& l) {
  // gridDim.y is at most 65535 (query blocks when blocks_major).
  const bool major = blocks_major() && (l.layout.T + 127) / 128 <= 65535;
  const KeySkipBounds key_skip{key_bounds, KeySkipBounds::blocks_of(l.layout.T)};
  const Sm90ForwardArgs args{out, lse, slopes, l.layout, major, key_skip};
  return stages() == 2 ? launch_with_stages<D, 2>(qkv, args, l)
                       : launch_with_stages<D, 3>(qkv, args, l);
}

template cudaError_t launch_attention_forward_sm90<64>(bf16*, float*, const bf16*, const float*,
                                                       const float*, const AttentionLaunch&);
template cudaError_t launch_attention_forward_sm90<128>(bf16*, float*, const bf16*, const float*,
                                                        const float*, const AttentionLaunch&);

}  // namespace alibi::cuda
