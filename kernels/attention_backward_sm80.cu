// Instantiates the backward kernels for every supported head dim.
#include "kernels/attention_backward_sm80.cuh"
#include "kernels/attention_launch.cuh"

namespace alibi::cuda {

cudaError_t launch_attention_row_dot(float* delta, const bf16* dout, const bf16* out,
                                     const AttentionLaunch& l) {
  const int64_t rows = l.B * l.layout.T * l.layout.H;
  row_dot_kernel<<<unsigned((rows + 255) / 256), 256, 0, l.stream>>>(delta, dout, out, l.layout,
                                                                     rows);
  return cudaGetLastError();
}

template <int D>
cudaError_t launch_attention_backward(bf16* dqkv, const bf16* dout, const bf16* qkv,
                                      const bf16* out, const float* lse, const float* slopes,
                                      float* delta, const AttentionLaunch& l) {
  if (const cudaError_t st = launch_attention_row_dot(delta, dout, out, l); st != cudaSuccess)
    return st;

  using DkDv = BackwardDkDvTraits<D>;
  const auto dkdv = attention_dkdv_kernel<DkDv>;
  const size_t dkdv_smem = DkDvSmem<DkDv>::bytes();
  if (const cudaError_t st = allow_shared_memory(dkdv, dkdv_smem); st != cudaSuccess) return st;
  dkdv<<<attention_grid(l.layout.T, DkDv::kOwnedRows, l), DkDv::kThreads, dkdv_smem, l.stream>>>(
      dqkv, dout, qkv, lse, delta, slopes, l.layout);
  if (const cudaError_t st = cudaGetLastError(); st != cudaSuccess) return st;

  using Dq = BackwardDqTraits<D>;
  const auto dq = attention_dq_kernel<Dq>;
  const size_t dq_smem = DqSmem<Dq>::bytes();
  if (const cudaError_t st = allow_shared_memory(dq, dq_smem); st != cudaSuccess) return st;
  dq<<<attention_grid(l.layout.T, Dq::kOwnedRows, l), Dq::kThreads, dq_smem, l.stream>>>(
      dqkv, dout, qkv, lse, delta, slopes, l.layout);
  return cudaGetLastError();
}

#define ALIBI_BACKWARD(D)                                                                         \
  template cudaError_t launch_attention_backward<D>(bf16*, const bf16*, const bf16*, const bf16*, \
                                                    const float*, const float*, float*,           \
                                                    const AttentionLaunch&);
ALIBI_BACKWARD(32)
ALIBI_BACKWARD(64)
ALIBI_BACKWARD(80)
ALIBI_BACKWARD(96)
ALIBI_BACKWARD(128)
#undef ALIBI_BACKWARD

}  // namespace alibi::cuda
