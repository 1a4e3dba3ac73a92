// Launch of the Hopper backward kernels (attention_backward_sm90.cuh): the
// delta kernel of the portable backward, then the dK/dV and the dQ kernel,
// each with TMA tensor maps over qkv and dout. NOT YET RUN ON A GPU; opt-in
// through ALIBI_ATTENTION_BACKWARD=sm90 (attention.cu).
#include <cudaTypedefs.h>  // PFN_cuTensorMapEncodeTiled

#include <cstdlib>
#include <cstring>

#include "kernels/attention_backward_sm90.cuh"
#include "kernels/attention_launch.cuh"

namespace alibi::cuda {
namespace {

PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault,
                                         &found) != cudaSuccess ||
        found != cudaDriverEntryPointSuccess)
      p = nullptr;
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
  }();
  return fn;
}

// A [B*T, parts, D] bf16 tensor (row stride parts * D elements) seen as the
// 3-D tensor {D, parts, B*T}, innermost first, in boxes {64, 1, box_rows}
// with the 128-byte swizzle (wgmma.cuh). qkv: parts = 3H; dout: parts = H.
// Rows past B*T read as zeros.
cudaError_t encode_rows_map(CUtensorMap* map, const bf16* base, int64_t D, int64_t parts,
                            int64_t rows, int box_rows) {
  const PFN_cuTensorMapEncodeTiled_v12000 encode = tensor_map_encoder();
  if (!encode) return cudaErrorNotSupported;
  const cuuint64_t dims[3] = {cuuint64_t(D), cuuint64_t(parts), cuuint64_t(rows)};
  const cuuint64_t strides[2] = {cuuint64_t(D * sizeof(bf16)), cuuint64_t(parts * D * sizeof(bf16))};
  const cuuint32_t box[3] = {64, 1, cuuint32_t(box_rows)};
  const cuuint32_t element_strides[3] = {1, 1, 1};
  const CUresult r = encode(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, const_cast<bf16*>(base), dims,
                            strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                            CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                            CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return r == CUDA_SUCCESS ? cudaSuccess : cudaErrorInvalidValue;
}

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
