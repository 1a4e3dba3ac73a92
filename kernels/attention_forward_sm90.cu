// Launch of the Hopper forward kernel (attention_forward_sm90.cuh): the TMA
// tensor map over qkv and the grid. The map is encoded through the driver
// entry point fetched by the runtime, so no libcuda link is needed.
#include <cudaTypedefs.h>  // PFN_cuTensorMapEncodeTiled

#include <cstdlib>
#include <cstring>

#include "kernels/attention_forward_sm90.cuh"
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

// qkv [B, T, 3, H, D] seen as a 3-D tensor {D, 3H, B*T} (innermost first):
// a box {64, 1, rows} is 64 columns of one (part, head) over `rows` tokens.
// Rows past B*T read as zeros. 128-byte swizzle, matching the wgmma
// descriptors (wgmma.cuh).
cudaError_t encode_qkv_map(CUtensorMap* map, const bf16* qkv, const HeadLayout& layout, int64_t B,
                           int box_rows) {
  const PFN_cuTensorMapEncodeTiled_v12000 encode = tensor_map_encoder();
  if (!encode) return cudaErrorNotSupported;
  const cuuint64_t dims[3] = {cuuint64_t(layout.D), cuuint64_t(3 * layout.H),
                              cuuint64_t(B * layout.T)};
  const cuuint64_t strides[2] = {cuuint64_t(layout.D * sizeof(bf16)),
                                 cuuint64_t(3 * layout.H * layout.D * sizeof(bf16))};
  const cuuint32_t box[3] = {64, 1, cuuint32_t(box_rows)};
  const cuuint32_t element_strides[3] = {1, 1, 1};
  const CUresult r = encode(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, const_cast<bf16*>(qkv), dims,
                            strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                            CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                            CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return r == CUDA_SUCCESS ? cudaSuccess : cudaErrorInvalidValue;
}

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
  if (const cudaError_t st = encode_qkv_map(&map, qkv, l.layout, l.B, Tr::kBlockN);
      st != cudaSuccess)
    return st;
  return pingpong_enabled() ? launch<Tr, true>(map, args, l) : launch<Tr, false>(map, args, l);
}

}  // namespace

template <int D>
cudaError_t launch_attention_forward_sm90(bf16* out, float* lse, const bf16* qkv,
                                          const float* slopes, const AttentionLaunch& l) {
  // gridDim.y is at most 65535 (query blocks when blocks_major).
  const bool major = blocks_major() && (l.layout.T + 127) / 128 <= 65535;
  const Sm90ForwardArgs args{out, lse, slopes, l.layout, major};
  return stages() == 2 ? launch_with_stages<D, 2>(qkv, args, l)
                       : launch_with_stages<D, 3>(qkv, args, l);
}

template cudaError_t launch_attention_forward_sm90<64>(bf16*, float*, const bf16*, const float*,
                                                       const AttentionLaunch&);
template cudaError_t launch_attention_forward_sm90<128>(bf16*, float*, const bf16*, const float*,
                                                        const AttentionLaunch&);

}  // namespace alibi::cuda
