// Launch of the Hopper backward kernels (attention_backward_sm90.cuh): the
// delta kernel of the portable backward, then the dK/dV and the dQ kernel,
// each with TMA tensor maps over qkv and dout. NOT YET RUN ON A GPU; opt-in
// through ALIBI_ATTENTION_BACKWARD=sm90 (attention.cu).
#include <cstdlib>
#include <cstring>

#include "kernels/attention_backward_sm90.cuh"
#include "kernels/attention_launch.cuh"
#include "kernels/tensor_map.cuh"

namespace alibi::cuda {
namespace {

template <class Kernel>
cudaError_t launch_one(Kernel kernel, size_t smem, dim3 grid, unsigned threads,
                       const CUtensorMap& qkv_map, const CUtensorMap& dout_map,
                       const Sm90BackwardArgs& args, cudaStream_t stream) {
  if (const cudaError_t st = allow_shared_memory(kernel, smem); st != cudaSuccess) return st;
  kernel<<<grid, threads, smem, stream>>>(qkv_map, dout_map, args);
  return cudaGetLastError();
}

// Measurement switch: ALIBI_SM90_BWD_STAGES=3 gives both kernels a 3-stage
// ring of streamed tiles instead of the default 2 (kSm90BackwardDefaultStages).
int backward_stages() {
  const char* v = std::getenv("ALIBI_SM90_BWD_STAGES");
  if (v != nullptr && std::strcmp(v, "2") == 0) return 2;
  if (v != nullptr && std::strcmp(v, "3") == 0) return 3;
  return kSm90BackwardDefaultStages;
}

template <int D, int kStages>
cudaError_t launch_with_stages(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse,
                               const float* slopes, const float* delta, const AttentionLaunch& l) {
  using Tr = Sm90BackwardTraits<D, kStages>;
  using Smem = Sm90BackwardSmem<Tr>;
  const HeadLayout& lay = l.layout;
  CUtensorMap qkv_map, dout_map;
  if (const cudaError_t st = encode_rows_map(&qkv_map, qkv, D, 3 * lay.H, l.B * lay.T, Tr::kBoxRows);
      st != cudaSuccess)
    return st;
  if (const cudaError_t st = encode_rows_map(&dout_map, dout, D, lay.H, l.B * lay.T, Tr::kBoxRows);
      st != cudaSuccess)
    return st;
  const Sm90BackwardArgs args{dqkv, lse, delta, slopes, lay};
  const dim3 grid(unsigned(l.B * lay.H), unsigned((lay.T + Tr::kBlock - 1) / Tr::kBlock));
  if (const cudaError_t st = launch_one(attention_dkdv_sm90_kernel<Tr>, Smem::bytes(), grid,
                                        Tr::kThreads, qkv_map, dout_map, args, l.stream);
      st != cudaSuccess)
    return st;
  return launch_one(attention_dq_sm90_kernel<Tr>, Smem::bytes(), grid, Tr::kThreads, qkv_map,
                    dout_map, args, l.stream);
}

}  // namespace

template <int D>
cudaError_t launch_attention_backward_sm90(bf16* dqkv, const bf16* dout, const bf16* qkv,
                                           const bf16* out, const float* lse, const float* slopes,
                                           float* delta, const AttentionLaunch& l) {
  if (const cudaError_t st = launch_attention_row_dot(delta, dout, out, l); st != cudaSuccess)
    return st;
  return backward_stages() == 3 ? launch_with_stages<D, 3>(dqkv, dout, qkv, lse, slopes, delta, l)
                                : launch_with_stages<D, 2>(dqkv, dout, qkv, lse, slopes, delta, l);
}

template cudaError_t launch_attention_backward_sm90<64>(bf16*, const bf16*, const bf16*,
                                                        const bf16*, const float*, const float*,
                                                        float*, const AttentionLaunch&);
template cudaError_t launch_attention_backward_sm90<128>(bf16*, const bf16*, const bf16*,
                                                         const bf16*, const float*, const float*,
                                                         float*, const AttentionLaunch&);

}  // namespace alibi::cuda
