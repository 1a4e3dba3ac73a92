#include <cub/device/device_radix_sort.cuh>

#include "cuda/cuda_check.cuh"
#include "kernels/common.cuh"
#include "kernels/embedding.cuh"
#include "kernels/map.cuh"

namespace alibi::cuda {
namespace {

constexpr int kThreads = 256;

// kVec channels a thread (one 16-byte copy where rows allow it).
template <int kVec>
__global__ void embedding_forward_kernel(bf16* out, const int32_t* tokens, const bf16* wte, int64_t N, int64_t V,
                                         int64_t C) {
  const int64_t i = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * kVec;
  if (i >= N * C) return;
  const int64_t n = i / C, c = i % C;
  const int32_t token = tokens[n];
  Pack<bf16, kVec> p;
  if (token >= 0 && token < V) {
    p = *reinterpret_cast<const Pack<bf16, kVec>*>(wte + token * C + c);
  } else {  // out of range: NaN, so the loss says so (see header)
#pragma unroll
    for (int k = 0; k < kVec; ++k) p.v[k] = __float2bfloat16_rn(__int_as_float(0x7fc00000));
  }
  *reinterpret_cast<Pack<bf16, kVec>*>(out + i) = p;
}

// Number of key bits the radix sort must look at for ids in [0, V).
int bits_for(int64_t V) {
  int bits = 1;
  while ((int64_t{1} << bits) < V) ++bits;
  return bits;
}

// The workspace, carved in a fixed order: keys in/out, positions in/out, cub's temp.
struct SortSpace {
  int32_t *keys_in, *keys_out, *pos_in, *pos_out;
  void* temp;
  size_t temp_bytes;
};

size_t cub_temp_bytes(int64_t N, int64_t V) {
  size_t bytes = 0;
  check_cuda(cub::DeviceRadixSort::SortPairs(nullptr, bytes, static_cast<const int32_t*>(nullptr),
                                             static_cast<int32_t*>(nullptr),
                                             static_cast<const int32_t*>(nullptr),
                                             static_cast<int32_t*>(nullptr), static_cast<int>(N), 0,
                                             bits_for(V)),
             "embedding_backward (sort size query)", {{"N", N}, {"V", V}});
  return bytes;
}

SortSpace carve(void* workspace, int64_t N, size_t temp_bytes) {
  char* p = static_cast<char*>(workspace);
  const size_t ids = round_up_256(static_cast<size_t>(N) * sizeof(int32_t));
  SortSpace s;
  s.keys_in = reinterpret_cast<int32_t*>(p);
  s.keys_out = reinterpret_cast<int32_t*>(p + ids);
  s.pos_in = reinterpret_cast<int32_t*>(p + 2 * ids);
  s.pos_out = reinterpret_cast<int32_t*>(p + 3 * ids);
  s.temp = p + 4 * ids;
  s.temp_bytes = temp_bytes;
  return s;
}

// Keys are the tokens, values the positions. A token outside [0, V) would
// fall outside the sorted bit range: it gets key 0 and position -1, which
// the summing kernel skips.
__global__ void prepare_sort_kernel(int32_t* keys, int32_t* positions, const int32_t* tokens,
                                    int64_t N, int64_t V) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= N) return;
  const int32_t token = tokens[n];
  const bool valid = token >= 0 && token < V;
  keys[n] = valid ? token : 0;
  positions[n] = valid ? static_cast<int32_t>(n) : -1;
}

// Block i starts work only where sorted position i begins a run of equal
// tokens; it then adds the run's rows into dwte in ascending position order
// (the sort is stable), each thread owning a strided set of channels.
__global__ void sum_runs_kernel(float* dwte, const bf16* dout, const int32_t* sorted_tokens,
                                const int32_t* sorted_positions, int64_t N, int64_t C) {
  const int64_t start = blockIdx.x;
  const int32_t token = sorted_tokens[start];
  if (start > 0 && sorted_tokens[start - 1] == token) return;
  int64_t end = start + 1;
  while (end < N && sorted_tokens[end] == token) ++end;
  float* row = dwte + static_cast<int64_t>(token) * C;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float acc = row[c];
    for (int64_t i = start; i < end; ++i) {
      const int32_t n = sorted_positions[i];
      if (n >= 0) acc += __bfloat162float(dout[static_cast<int64_t>(n) * C + c]);
    }
    row[c] = acc;
  }
}

}  // namespace

void embedding_forward(bf16* out, const int32_t* tokens, const bf16* wte, int64_t N, int64_t V,
                       int64_t C, cudaStream_t stream) {
  if (N * C == 0) return;
  constexpr int kVec = 8;
  if (C % kVec == 0 && aligned16(out) && aligned16(wte))
    embedding_forward_kernel<kVec>
        <<<blocks_for(N * C / kVec, kThreads), kThreads, 0, stream>>>(out, tokens, wte, N, V, C);
  else
    embedding_forward_kernel<1><<<blocks_for(N * C, kThreads), kThreads, 0, stream>>>(out, tokens, wte, N, V, C);
  check_launch("embedding_forward", {{"N", N}, {"V", V}, {"C", C}});
}

size_t embedding_backward_workspace_bytes(int64_t N, int64_t V) {
  return 4 * round_up_256(static_cast<size_t>(N) * sizeof(int32_t)) + cub_temp_bytes(N, V);
}

void embedding_backward(float* dwte, const bf16* dout, const int32_t* tokens, int64_t N, int64_t V,
                        int64_t C, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  if (N == 0 || C == 0) return;
  const Dims dims = {{"N", N}, {"V", V}, {"C", C}};
  const size_t temp_bytes = cub_temp_bytes(N, V);
  if (workspace_bytes < 4 * round_up_256(static_cast<size_t>(N) * sizeof(int32_t)) + temp_bytes)
    throw_cuda_error("embedding_backward", dims, "workspace too small");
  SortSpace s = carve(workspace, N, temp_bytes);
  prepare_sort_kernel<<<blocks_for(N, kThreads), kThreads, 0, stream>>>(s.keys_in, s.pos_in, tokens, N, V);
  check_launch("embedding_backward (prepare)", dims);
  check_cuda(cub::DeviceRadixSort::SortPairs(s.temp, s.temp_bytes, s.keys_in, s.keys_out, s.pos_in,
                                             s.pos_out, static_cast<int>(N), 0, bits_for(V), stream),
             "embedding_backward (sort)", dims);
  sum_runs_kernel<<<static_cast<unsigned>(N), kThreads, 0, stream>>>(dwte, dout, s.keys_out, s.pos_out, N, C);
  check_launch("embedding_backward", dims);
}

}  // namespace alibi::cuda
