// Linear layers on the GPU through cuBLASLt: bf16 inputs, fp32 accumulation.
// Shapes follow Backend::matmul_* (backend.h): out[N,OC] = inp[N,C] W[OC,C]^T + b.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace alibi::cuda {

// Which kernels run the MLP's GELU-fused products (matmul_gelu_forward's
// and matmul_gelu_backward's input gradient) on Hopper: cuBLASLt's epilogue
// kernels, or our own product (gemm_sm90.cuh), one CTA a tile or CTA pairs
// sharing W (the CUDA backend's choice: ALIBI_GEMM_SM90, docs/environment.md).
// Elsewhere always cuBLASLt.
enum class GeluProducts { Cublaslt, Sm90, Sm90Pairs };

// cuBLASLt's workspace (also where a weight is transposed for a product).
constexpr size_t kMatmulWorkspaceBytes = size_t{32} << 20;

// Owns the cuBLASLt handle and its workspace (allocated once).
// tune_algorithms: the first call of each shape times the heuristic's best
// few algorithms and keeps the fastest (faster, but which one wins may vary
// from run to run, and with it the last bits); otherwise the heuristic's
// first choice, the same on every run. gelu_products: as above.
class MatmulContext {
 public:
  explicit MatmulContext(bool tune_algorithms = false, size_t workspace_bytes = kMatmulWorkspaceBytes,
                         GeluProducts gelu_products = GeluProducts::Cublaslt);
  ~MatmulContext();
  MatmulContext(const MatmulContext&) = delete;
  MatmulContext& operator=(const MatmulContext&) = delete;
  void* handle() const { return handle_; }  // cublasLtHandle_t
  void* workspace() const { return workspace_; }
  size_t workspace_bytes() const { return workspace_bytes_; }
  bool tune_algorithms() const { return tune_algorithms_; }
  GeluProducts gelu_products() const { return gelu_products_; }

 private:
  bool tune_algorithms_ = false;
  GeluProducts gelu_products_ = GeluProducts::Cublaslt;
  void* handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
};

// out = inp @ weight^T (+ bias). bias may be null.
void matmul_forward(MatmulContext& ctx, __nv_bfloat16* out, const __nv_bfloat16* inp,
                    const __nv_bfloat16* weight, const __nv_bfloat16* bias, int64_t N, int64_t C,
                    int64_t OC, cudaStream_t stream);

// dinp = dout @ weight (overwrite; skipped when null),
// dweight += dout^T @ inp (fp32), dbias += column sums of dout (fp32; skipped when null).
// Without `accumulate`, dweight and dbias are written instead (= 0 + the same).
void matmul_backward(MatmulContext& ctx, __nv_bfloat16* dinp, float* dweight, float* dbias,
                     const __nv_bfloat16* dout, const __nv_bfloat16* inp, const __nv_bfloat16* weight,
                     int64_t N, int64_t C, int64_t OC, cudaStream_t stream, bool accumulate = true);

// A linear layer added to the residual stream in the same pass (the
// product's epilogue reads it): out = residual + inp @ weight^T (+ bias).
void matmul_residual_forward(MatmulContext& ctx, __nv_bfloat16* out, const __nv_bfloat16* inp,
                             const __nv_bfloat16* weight, const __nv_bfloat16* bias,
                             const __nv_bfloat16* residual, int64_t N, int64_t C, int64_t OC,
                             cudaStream_t stream);

// A linear layer followed by GELU, through cuBLASLt's GELU epilogue:
// pre = inp @ weight^T + bias (kept for the backward), out = GELU(pre)
// (tanh approximation), in one pass. Unfused (matmul, then GELU) where
// cuBLASLt cannot fuse it (OC not a multiple of 8).
void matmul_gelu_forward(MatmulContext& ctx, __nv_bfloat16* out, __nv_bfloat16* pre,
                         const __nv_bfloat16* inp, const __nv_bfloat16* weight,
                         const __nv_bfloat16* bias, int64_t N, int64_t C, int64_t OC,
                         cudaStream_t stream);

// matmul_backward of a layer whose input was GELU(pre), the input gradient
// carried on through the GELU in the same epilogue: dpre = (dout @ weight) *
// GELU'(pre) [N,C] (overwrite), dweight += dout^T @ inp, dbias += column sums
// of dout (skipped when null), dpre_sums += column sums of dpre as stored
// (skipped when null; from gemm_sm90's epilogue where that runs, else a pass
// of bias_grad over dpre). Without `accumulate`, the three are written.
void matmul_gelu_backward(MatmulContext& ctx, __nv_bfloat16* dpre, const __nv_bfloat16* pre,
                          float* dweight, float* dbias, float* dpre_sums, const __nv_bfloat16* dout,
                          const __nv_bfloat16* inp, const __nv_bfloat16* weight, int64_t N,
                          int64_t C, int64_t OC, cudaStream_t stream, bool accumulate = true);

}  // namespace alibi::cuda
