#include "cuda/cuda_check.cuh"
#include "kernels/common.cuh"
#include "kernels/reduce.cuh"

namespace alibi::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 1024;       // enough to fill an H100 several times
constexpr int kItemsPerThread = 16;    // below this much work, fewer blocks

int block_count(int64_t n) {
  const int64_t wanted = (n + kThreads * kItemsPerThread - 1) / (kThreads * kItemsPerThread);
  return static_cast<int>(wanted < 1 ? 1 : (wanted > kMaxBlocks ? kMaxBlocks : wanted));
}

// Grid-stride loop: which elements a thread visits depends only on n and the
// grid, and the block tree is fixed, so each partial is reproducible.
template <typename T>
__global__ void partial_kernel(double* partials, const T* x, int64_t n) {
  __shared__ double shared[kWarp];
  double sum = 0.0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const double v = to_f32(x[i]);
    sum += v * v;
  }
  sum = block_sum(sum, shared);
  if (threadIdx.x == 0) partials[blockIdx.x] = sum;
}

// One block: thread t adds partials t, t + 256, ... in order, then the tree.
__global__ void final_kernel(float* result, const double* partials, int count) {
  __shared__ double shared[kWarp];
  double sum = 0.0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) sum += partials[i];
  sum = block_sum(sum, shared);
  if (threadIdx.x == 0) *result = static_cast<float>(sum);
}

}  // namespace

size_t sum_of_squares_workspace_bytes(int64_t n) { return block_count(n) * sizeof(double); }

template <typename T>
void sum_of_squares(float* result, const T* x, int64_t n, void* workspace, size_t workspace_bytes,
                    cudaStream_t stream) {
  const Dims dims = {{"n", n}};
  if (workspace_bytes < sum_of_squares_workspace_bytes(n))
    throw_cuda_error("sum_of_squares", dims, "workspace too small");
  const int blocks = block_count(n);
  double* partials = static_cast<double*>(workspace);
  partial_kernel<<<blocks, kThreads, 0, stream>>>(partials, x, n);
  check_launch("sum_of_squares (partials)", dims);
  final_kernel<<<1, kThreads, 0, stream>>>(result, partials, blocks);
  check_launch("sum_of_squares", dims);
}

template void sum_of_squares<float>(float*, const float*, int64_t, void*, size_t, cudaStream_t);
template void sum_of_squares<__nv_bfloat16>(float*, const __nv_bfloat16*, int64_t, void*, size_t,
                                            cudaStream_t);

}  // namespace alibi::cuda
