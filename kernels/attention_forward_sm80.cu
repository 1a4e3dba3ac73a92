// Instantiates the forward kernel for every supported head dim.
#include "kernels/attention_forward_sm80.cuh"
#include "kernels/attention_launch.cuh"

namespace alibi::cuda {

template <int D>
cudaError_t launch_attention_forward(bf16* out, float* lse, const bf16* qkv, const float* slopes,
                                     const AttentionLaunch& l) {
  using Tr = ForwardTraits<D>;
  const auto kernel = attention_forward_kernel<Tr>;
  const size_t smem = ForwardSmem<Tr>::bytes();
  if (const cudaError_t st = allow_shared_memory(kernel, smem); st != cudaSuccess) return st;
  kernel<<<attention_grid(l.layout.T, Tr::kOwnedRows, l), Tr::kThreads, smem, l.stream>>>(
      out, lse, qkv, slopes, l.layout);
  return cudaGetLastError();
}

#define ALIBI_FORWARD(D)                                                                     \
  template cudaError_t launch_attention_forward<D>(bf16*, float*, const bf16*, const float*, \
                                                   const AttentionLaunch&);
ALIBI_FORWARD(32)
ALIBI_FORWARD(64)
ALIBI_FORWARD(80)
ALIBI_FORWARD(96)
ALIBI_FORWARD(128)
#undef ALIBI_FORWARD

}  // namespace alibi::cuda
