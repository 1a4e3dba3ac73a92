// Linear layers through cuBLASLt (see matmul.cuh).
//
// cuBLASLt is column-major; our tensors are row-major. A row-major [R, K]
// matrix is the same memory as a column-major [K, R] one, so every product is
// written for the transposed (column-major) views:
//   forward   out^T[OC,N]    = (W as col-major [C,OC])^T · (inp as col-major [C,N])
//             m=OC, n=N, k=C, opA = T, opB = N
//   dinp      dinp^T[C,N]    = (W as col-major [C,OC]) · (dout as col-major [OC,N])
//             m=C, n=N, k=OC, opA = N, opB = N
//   dweight   dweight^T[C,OC] += (inp as col-major [C,N]) · (dout as col-major [OC,N])^T
//             m=C, n=OC, k=N, opA = N, opB = T, C/D fp32, beta = 1
// The bias epilogue adds a length-m vector to every column of D, which for
// the forward (m = OC) is one value per output feature, as wanted.
#include "kernels/matmul.cuh"

#include <cublasLt.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>

#include "kernels/bias_grad.cuh"

namespace alibi::cuda {
namespace {

struct OpShape {
  const char* op;
  int64_t N, C, OC;
};

[[noreturn]] void fail(const OpShape& s, const std::string& what) {
  std::ostringstream msg;
  msg << s.op << " (N=" << s.N << ", C=" << s.C << ", OC=" << s.OC << "): " << what;
  throw std::runtime_error(msg.str());
}

void check(cublasStatus_t st, const OpShape& s, const char* call) {
  if (st != CUBLAS_STATUS_SUCCESS)
    fail(s, std::string(call) + " failed: " + cublasLtGetStatusString(st));
}

void check(cudaError_t st, const OpShape& s, const char* call) {
  if (st != cudaSuccess) fail(s, std::string(call) + " failed: " + cudaGetErrorString(st));
}

// The largest power of two (<= 256) dividing the address: the heuristic must
// only offer algorithms that can read our pointers (views into bigger buffers
// need not be 256-byte aligned).
uint32_t alignment_of(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  uint32_t align = 256;
  while (align > 1 && (a % align) != 0) align >>= 1;
  return align;
}

// Everything that decides which algorithm is valid for a call.
struct GemmKey {
  int device;
  bool trans_a, trans_b;
  int64_t m, n, k, lda, ldb, ldd;
  cudaDataType_t c_type;
  bool bias;
  uint32_t align_a, align_b, align_c, align_d;
  auto tie() const {
    return std::tie(device, trans_a, trans_b, m, n, k, lda, ldb, ldd, c_type, bias, align_a,
                    align_b, align_c, align_d);
  }
  bool operator<(const GemmKey& o) const { return tie() < o.tie(); }
};

// The heuristic costs far more than a small matmul, so its answer is kept
// per shape for the life of the process (algorithms depend on the device and
// the descriptors, not on the handle).
class AlgoCache {
 public:
  bool find(const GemmKey& key, cublasLtMatmulAlgo_t* algo) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = algos_.find(key);
    if (it == algos_.end()) return false;
    *algo = it->second;
    return true;
  }
  void insert(const GemmKey& key, const cublasLtMatmulAlgo_t& algo) {
    std::lock_guard<std::mutex> lock(mutex_);
    algos_[key] = algo;
  }

 private:
  std::mutex mutex_;
  std::map<GemmKey, cublasLtMatmulAlgo_t> algos_;
};

AlgoCache& algo_cache() {
  static AlgoCache cache;
  return cache;
}

// Owners of the cuBLASLt descriptors of one call.
struct MatmulDesc {
  cublasLtMatmulDesc_t desc = nullptr;
  ~MatmulDesc() {
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
};
struct Layout {
  cublasLtMatrixLayout_t layout = nullptr;
  ~Layout() {
    if (layout) cublasLtMatrixLayoutDestroy(layout);
  }
};
struct Preference {
  cublasLtMatmulPreference_t pref = nullptr;
  ~Preference() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
  }
};

// D[m,n] = alpha * op(A) op(B) + beta * C (+ bias[m]), column-major, C == D.
struct Gemm {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  const void* a = nullptr;  // bf16, stored [k,m] when trans_a else [m,k]
  const void* b = nullptr;  // bf16, stored [n,k] when trans_b else [k,n]
  void* d = nullptr;        // c_type, [m,n]
  cudaDataType_t c_type = CUDA_R_16BF;
  const void* bias = nullptr;  // bf16 [m] or null
  float beta = 0.f;
};

void make_layout(Layout& l, cudaDataType_t type, int64_t rows, int64_t cols, const OpShape& s) {
  check(cublasLtMatrixLayoutCreate(&l.layout, type, rows, cols, rows), s,
        "cublasLtMatrixLayoutCreate");
}

cublasLtMatmulAlgo_t choose_algo(MatmulContext& ctx, const GemmKey& key, MatmulDesc& desc,
                                 Layout& la, Layout& lb, Layout& ld, const OpShape& s) {
  cublasLtMatmulAlgo_t algo;
  if (algo_cache().find(key, &algo)) return algo;
  Preference pref;
  check(cublasLtMatmulPreferenceCreate(&pref.pref), s, "cublasLtMatmulPreferenceCreate");
  const size_t ws = ctx.workspace_bytes();
  check(cublasLtMatmulPreferenceSetAttribute(pref.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                             &ws, sizeof(ws)),
        s, "cublasLtMatmulPreferenceSetAttribute(workspace)");
  const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_a},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_b},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_c},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_d}};
  for (const auto& [attr, value] : aligns)
    check(cublasLtMatmulPreferenceSetAttribute(pref.pref, attr, &value, sizeof(value)), s,
          "cublasLtMatmulPreferenceSetAttribute(alignment)");
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  check(cublasLtMatmulAlgoGetHeuristic(static_cast<cublasLtHandle_t>(ctx.handle()), desc.desc,
                                       la.layout, lb.layout, ld.layout, ld.layout, pref.pref, 1,
                                       &result, &found),
        s, "cublasLtMatmulAlgoGetHeuristic");
  if (found == 0) fail(s, "cublasLtMatmulAlgoGetHeuristic found no algorithm");
  algo_cache().insert(key, result.algo);
  return result.algo;
}

void run_gemm(MatmulContext& ctx, const Gemm& g, const OpShape& s, cudaStream_t stream) {
  MatmulDesc desc;
  check(cublasLtMatmulDescCreate(&desc.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), s,
        "cublasLtMatmulDescCreate");
  const cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  check(cublasLtMatmulDescSetAttribute(desc.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)),
        s, "cublasLtMatmulDescSetAttribute(TRANSA)");
  check(cublasLtMatmulDescSetAttribute(desc.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)),
        s, "cublasLtMatmulDescSetAttribute(TRANSB)");
  if (g.bias) {
    const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    const cudaDataType_t bias_type = CUDA_R_16BF;
    check(cublasLtMatmulDescSetAttribute(desc.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi,
                                         sizeof(epi)),
          s, "cublasLtMatmulDescSetAttribute(EPILOGUE)");
    check(cublasLtMatmulDescSetAttribute(desc.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias,
                                         sizeof(g.bias)),
          s, "cublasLtMatmulDescSetAttribute(BIAS_POINTER)");
    check(cublasLtMatmulDescSetAttribute(desc.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                         &bias_type, sizeof(bias_type)),
          s, "cublasLtMatmulDescSetAttribute(BIAS_DATA_TYPE)");
  }
  Layout la, lb, ld;
  make_layout(la, CUDA_R_16BF, g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k, s);
  make_layout(lb, CUDA_R_16BF, g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n, s);
  make_layout(ld, g.c_type, g.m, g.n, s);

  int device = 0;
  check(cudaGetDevice(&device), s, "cudaGetDevice");
  const GemmKey key{device,
                    g.trans_a,
                    g.trans_b,
                    g.m,
                    g.n,
                    g.k,
                    g.trans_a ? g.k : g.m,
                    g.trans_b ? g.n : g.k,
                    g.m,
                    g.c_type,
                    g.bias != nullptr,
                    alignment_of(g.a),
                    alignment_of(g.b),
                    alignment_of(g.d),
                    alignment_of(g.d)};
  const cublasLtMatmulAlgo_t algo = choose_algo(ctx, key, desc, la, lb, ld, s);
  const float alpha = 1.f;
  check(cublasLtMatmul(static_cast<cublasLtHandle_t>(ctx.handle()), desc.desc, &alpha, g.a,
                       la.layout, g.b, lb.layout, &g.beta, g.d, ld.layout, g.d, ld.layout, &algo,
                       ctx.workspace(), ctx.workspace_bytes(), stream),
        s, "cublasLtMatmul");
}

void validate(const OpShape& s) {
  if (s.N <= 0 || s.C <= 0 || s.OC <= 0) fail(s, "all dimensions must be positive");
}

}  // namespace

MatmulContext::MatmulContext(size_t workspace_bytes) : workspace_bytes_(workspace_bytes) {
  const OpShape s{"MatmulContext", 0, 0, 0};
  cublasLtHandle_t handle = nullptr;
  check(cublasLtCreate(&handle), s, "cublasLtCreate");
  handle_ = handle;
  if (workspace_bytes_ > 0) {
    const cudaError_t st = cudaMalloc(&workspace_, workspace_bytes_);
    if (st != cudaSuccess) {
      cublasLtDestroy(handle);
      check(st, s, "cudaMalloc(workspace)");
    }
  }
}

MatmulContext::~MatmulContext() {
  if (workspace_) cudaFree(workspace_);
  if (handle_) cublasLtDestroy(static_cast<cublasLtHandle_t>(handle_));
}

void matmul_forward(MatmulContext& ctx, __nv_bfloat16* out, const __nv_bfloat16* inp,
                    const __nv_bfloat16* weight, const __nv_bfloat16* bias, int64_t N, int64_t C,
                    int64_t OC, cudaStream_t stream) {
  const OpShape s{"matmul_forward", N, C, OC};
  validate(s);
  Gemm g;
  g.trans_a = true;
  g.m = OC, g.n = N, g.k = C;
  g.a = weight, g.b = inp, g.d = out, g.bias = bias;
  run_gemm(ctx, g, s, stream);
}

void matmul_backward(MatmulContext& ctx, __nv_bfloat16* dinp, float* dweight, float* dbias,
                     const __nv_bfloat16* dout, const __nv_bfloat16* inp,
                     const __nv_bfloat16* weight, int64_t N, int64_t C, int64_t OC,
                     cudaStream_t stream) {
  const OpShape s{"matmul_backward", N, C, OC};
  validate(s);
  if (dinp) {
    Gemm g;
    g.m = C, g.n = N, g.k = OC;
    g.a = weight, g.b = dout, g.d = dinp;
    run_gemm(ctx, g, s, stream);
  }
  Gemm gw;
  gw.trans_b = true;
  gw.m = C, gw.n = OC, gw.k = N;
  gw.a = inp, gw.b = dout, gw.d = dweight;
  gw.c_type = CUDA_R_32F;
  gw.beta = 1.f;
  run_gemm(ctx, gw, s, stream);
  // The matmuls above are done with the workspace by then (one stream).
  if (dbias) bias_grad(dbias, dout, N, OC, ctx.workspace(), ctx.workspace_bytes(), stream);
}

}  // namespace alibi::cuda
