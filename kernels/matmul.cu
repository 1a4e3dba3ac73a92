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
//             m=C, n=OC, k=N, opA = N, opB = T, C/D fp32, beta = 1 (0: written, not added)
// The bias epilogue adds a length-m vector to every column of D, which for
// the forward (m = OC) is one value per output feature, as wanted.
#include "kernels/matmul.cuh"

#include <cublasLt.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/bias_grad.cuh"
#include "kernels/chunk_sums.cuh"
#include "kernels/common.cuh"
#include "kernels/gelu.cuh"
#include "kernels/gemm_sm90.cuh"
#include "kernels/matvec.cuh"
#include "kernels/transpose.cuh"

namespace alibi::cuda {
namespace {

using bf16 = __nv_bfloat16;

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

// A start/stop event pair for timing candidates, destroyed on every path.
struct CudaEventPair {
  cudaEvent_t start = nullptr, stop = nullptr;
  explicit CudaEventPair(const OpShape& s) {
    check(cudaEventCreate(&start), s, "cudaEventCreate");
    check(cudaEventCreate(&stop), s, "cudaEventCreate");
  }
  ~CudaEventPair() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
  }
};

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
  cublasLtEpilogue_t epilogue;
  uint32_t align_a, align_b, align_c, align_d, align_aux;
  size_t workspace_bytes;  // what cuBLASLt may use
  bool tuned;  // chosen by timing (MatmulContext::tune_algorithms) or the heuristic's first
  auto tie() const {
    return std::tie(device, trans_a, trans_b, m, n, k, lda, ldb, ldd, c_type, epilogue, align_a,
                    align_b, align_c, align_d, align_aux, workspace_bytes, tuned);
  }
  bool operator<(const GemmKey& o) const { return tie() < o.tie(); }
};

// The heuristic costs far more than a small matmul, so its answer is kept
// per shape for the life of the process (algorithms depend on the device and
// the descriptors, not on the handle).
// "No algorithm" is kept too, so an unfusable epilogue is asked about once.
class AlgoCache {
 public:
  using Answer = std::optional<cublasLtMatmulAlgo_t>;  // nullopt: none exists
  bool find(const GemmKey& key, Answer* answer) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = algos_.find(key);
    if (it == algos_.end()) return false;
    *answer = it->second;
    return true;
  }
  void insert(const GemmKey& key, const Answer& answer) {
    std::lock_guard<std::mutex> lock(mutex_);
    algos_[key] = answer;
  }

 private:
  std::mutex mutex_;
  std::map<GemmKey, Answer> algos_;
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

// D[m,n] = epilogue(alpha * op(A) op(B) + beta * C), column-major; C is D
// unless given (a residual added in the same pass).
// Epilogues: BIAS adds bias[m] to every column; GELU_AUX_BIAS also stores
// the pre-GELU value in aux and writes GELU of it to D; DGELU multiplies the
// product by GELU'(aux). aux is bf16 [m,n] with leading dimension m.
struct Gemm {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  const void* a = nullptr;  // bf16, stored [k,m] when trans_a else [m,k]
  const void* b = nullptr;  // bf16, stored [n,k] when trans_b else [k,n]
  void* d = nullptr;        // c_type, [m,n]
  const void* c = nullptr;  // c_type, [m,n], read when beta != 0; null: d itself
  cudaDataType_t c_type = CUDA_R_16BF;
  const void* bias = nullptr;  // bf16 [m] or null
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;  // BIAS is implied by a bias
  const void* aux = nullptr;
  float beta = 0.f;
  size_t workspace_taken = 0;  // bytes at the workspace's start that hold an operand (a multiple of 256)
};

void set_attribute(MatmulDesc& desc, cublasLtMatmulDescAttributes_t attr, const void* value, size_t size,
                   const OpShape& s, const char* name) {
  check(cublasLtMatmulDescSetAttribute(desc.desc, attr, value, size), s,
        (std::string("cublasLtMatmulDescSetAttribute(") + name + ")").c_str());
}

void make_layout(Layout& l, cudaDataType_t type, int64_t rows, int64_t cols, const OpShape& s) {
  check(cublasLtMatrixLayoutCreate(&l.layout, type, rows, cols, rows), s,
        "cublasLtMatrixLayoutCreate");
}

// One run of the product with `algo` (d written; c read when beta != 0).
using RunGemm = std::function<cublasStatus_t(const cublasLtMatmulAlgo_t&)>;

// The heuristic's order is a guess: for fused epilogues and skinny shapes its
// first pick is often not the fastest. So its first kCandidates are each run
// a few times on the stream and the fastest is kept, once per shape.
constexpr int kCandidates = 8;
constexpr int kTimedRuns = 3;

// Median milliseconds of kTimedRuns runs after one warm-up; infinity where
// the algorithm fails to run.
float time_algo(const RunGemm& run, const cublasLtMatmulAlgo_t& algo, cudaStream_t stream, const OpShape& s) {
  if (run(algo) != CUBLAS_STATUS_SUCCESS) return std::numeric_limits<float>::infinity();
  std::array<float, kTimedRuns> ms{};
  CudaEventPair events(s);
  for (float& t : ms) {
    check(cudaEventRecord(events.start, stream), s, "cudaEventRecord");
    if (run(algo) != CUBLAS_STATUS_SUCCESS) return std::numeric_limits<float>::infinity();
    check(cudaEventRecord(events.stop, stream), s, "cudaEventRecord");
    check(cudaEventSynchronize(events.stop), s, "cudaEventSynchronize");
    check(cudaEventElapsedTime(&t, events.start, events.stop), s, "cudaEventElapsedTime");
  }
  std::sort(ms.begin(), ms.end());
  return ms[kTimedRuns / 2];
}

// Runs that add into d (beta != 0 with c = d, a gradient accumulating) must
// leave it as it was: d is kept on the host while the candidates run.
class SavedOutput {
 public:
  SavedOutput(void* d, size_t bytes, cudaStream_t stream, const OpShape& s)
      : d_(d), host_(bytes), stream_(stream), s_(s) {
    check(cudaMemcpyAsync(host_.data(), d_, bytes, cudaMemcpyDeviceToHost, stream), s, "cudaMemcpyAsync(save)");
    check(cudaStreamSynchronize(stream), s, "cudaStreamSynchronize");
  }
  void restore() {
    check(cudaMemcpyAsync(d_, host_.data(), host_.size(), cudaMemcpyHostToDevice, stream_), s_,
          "cudaMemcpyAsync(restore)");
    check(cudaStreamSynchronize(stream_), s_, "cudaStreamSynchronize");
  }

 private:
  void* d_;
  std::vector<unsigned char> host_;
  cudaStream_t stream_;
  const OpShape& s_;
};

bool capturing(cudaStream_t stream, const OpShape& s) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(stream, &status), s, "cudaStreamIsCapturing");
  return status != cudaStreamCaptureStatusNone;
}

// The fastest of the heuristic's candidates; d holds its old contents again.
cublasLtMatmulAlgo_t fastest(const cublasLtMatmulHeuristicResult_t* results, int found, const RunGemm& run,
                             const Gemm& g, cudaStream_t stream, const OpShape& s) {
  const bool accumulates = g.beta != 0.f && (g.c == nullptr || g.c == g.d);
  const size_t element = g.c_type == CUDA_R_32F ? sizeof(float) : sizeof(bf16);
  std::optional<SavedOutput> saved;
  if (accumulates) saved.emplace(g.d, static_cast<size_t>(g.m * g.n) * element, stream, s);
  int best = 0;
  float best_ms = std::numeric_limits<float>::infinity();
  for (int i = 0; i < found; ++i) {
    const float ms = time_algo(run, results[i].algo, stream, s);
    if (ms < best_ms) best = i, best_ms = ms;
  }
  if (saved) saved->restore();
  return results[best].algo;
}

// False where cuBLASLt offers no algorithm (an epilogue it cannot fuse at
// this shape or alignment): the caller then runs the unfused path.
bool choose_algo(MatmulContext& ctx, const GemmKey& key, MatmulDesc& desc, Layout& la, Layout& lb,
                 Layout& ld, const Gemm& g, const RunGemm& run, cudaStream_t stream, const OpShape& s,
                 cublasLtMatmulAlgo_t* algo) {
  AlgoCache::Answer known;
  if (algo_cache().find(key, &known)) {
    if (known) *algo = *known;
    return known.has_value();
  }
  // A recording cannot time candidates, but it takes the one an eager run
  // of the same shape timed: a recorded step then computes what the eager
  // step did, bit for bit.
  if (ctx.tune_algorithms() && !key.tuned) {
    GemmKey timed = key;
    timed.tuned = true;
    if (algo_cache().find(timed, &known) && known) {
      *algo = *known;
      return true;
    }
  }
  Preference pref;
  check(cublasLtMatmulPreferenceCreate(&pref.pref), s, "cublasLtMatmulPreferenceCreate");
  const size_t ws = key.workspace_bytes;
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
  std::array<cublasLtMatmulHeuristicResult_t, kCandidates> results{};
  int found = 0;
  const int wanted = key.tuned ? kCandidates : 1;
  const cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(static_cast<cublasLtHandle_t>(ctx.handle()), desc.desc, la.layout,
                                     lb.layout, ld.layout, ld.layout, pref.pref, wanted, results.data(), &found);
  if (st == CUBLAS_STATUS_NOT_SUPPORTED || (st == CUBLAS_STATUS_SUCCESS && found == 0)) {
    algo_cache().insert(key, std::nullopt);
    return false;
  }
  check(st, s, "cublasLtMatmulAlgoGetHeuristic");
  *algo = found > 1 ? fastest(results.data(), found, run, g, stream, s) : results[0].algo;
  algo_cache().insert(key, *algo);
  return true;
}

// False (and nothing run) where no algorithm fuses g's epilogue.
bool try_gemm(MatmulContext& ctx, const Gemm& g, const OpShape& s, cudaStream_t stream) {
  MatmulDesc desc;
  check(cublasLtMatmulDescCreate(&desc.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), s,
        "cublasLtMatmulDescCreate");
  const cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  check(cublasLtMatmulDescSetAttribute(desc.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)),
        s, "cublasLtMatmulDescSetAttribute(TRANSA)");
  check(cublasLtMatmulDescSetAttribute(desc.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)),
        s, "cublasLtMatmulDescSetAttribute(TRANSB)");
  cublasLtEpilogue_t epi = g.epilogue;
  if (g.bias) {
    // DEFAULT is 1, not 0: OR-ing BIAS onto it names no epilogue at all.
    epi = epi == CUBLASLT_EPILOGUE_DEFAULT ? CUBLASLT_EPILOGUE_BIAS
                                           : static_cast<cublasLtEpilogue_t>(epi | CUBLASLT_EPILOGUE_BIAS);
    const cudaDataType_t bias_type = CUDA_R_16BF;
    set_attribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias, sizeof(g.bias), s, "BIAS_POINTER");
    set_attribute(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof(bias_type), s, "BIAS_DATA_TYPE");
  }
  if (g.aux) {
    const int64_t aux_ld = g.m;
    const cudaDataType_t aux_type = CUDA_R_16BF;
    set_attribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &g.aux, sizeof(g.aux), s, "AUX_POINTER");
    set_attribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &aux_ld, sizeof(aux_ld), s, "AUX_LD");
    set_attribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE, &aux_type, sizeof(aux_type), s,
                  "AUX_DATA_TYPE");
  }
  if (epi != CUBLASLT_EPILOGUE_DEFAULT)
    set_attribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi), s, "EPILOGUE");
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
                    epi,
                    alignment_of(g.a),
                    alignment_of(g.b),
                    alignment_of(g.c ? g.c : g.d),
                    alignment_of(g.d),
                    g.aux ? alignment_of(g.aux) : 256u,
                    ctx.workspace_bytes() - g.workspace_taken,
                    ctx.tune_algorithms() && !capturing(stream, s)};
  void* workspace = static_cast<char*>(ctx.workspace()) + g.workspace_taken;
  const float alpha = 1.f;
  const RunGemm run = [&](const cublasLtMatmulAlgo_t& algo) {
    return cublasLtMatmul(static_cast<cublasLtHandle_t>(ctx.handle()), desc.desc, &alpha, g.a, la.layout, g.b,
                          lb.layout, &g.beta, g.c ? g.c : g.d, ld.layout, g.d, ld.layout, &algo, workspace,
                          key.workspace_bytes, stream);
  };
  cublasLtMatmulAlgo_t algo;
  if (!choose_algo(ctx, key, desc, la, lb, ld, g, run, stream, s, &algo)) return false;
  check(run(algo), s, "cublasLtMatmul");
  return true;
}

void run_gemm(MatmulContext& ctx, const Gemm& g, const OpShape& s, cudaStream_t stream) {
  if (!try_gemm(ctx, g, s, stream)) fail(s, "cublasLtMatmulAlgoGetHeuristic found no algorithm");
}

// cuBLASLt's GELU epilogues need the aux matrix's leading dimension (m, the
// layer's output width) divisible by 8.
bool gelu_epilogue_possible(int64_t m) { return m % 8 == 0; }

void validate(const OpShape& s) {
  if (s.N <= 0 || s.C <= 0 || s.OC <= 0) fail(s, "all dimensions must be positive");
}

}  // namespace

MatmulContext::MatmulContext(bool tune_algorithms, size_t workspace_bytes, GeluProducts gelu_products)
    : tune_algorithms_(tune_algorithms), gelu_products_(gelu_products), workspace_bytes_(workspace_bytes) {
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
  if (MatvecArgs m{out, inp, weight, bias, N, C, OC}; matvec_suits(m)) return matvec(m, stream);
  Gemm g;
  g.trans_a = true;
  g.m = OC, g.n = N, g.k = C;
  g.a = weight, g.b = inp, g.d = out, g.bias = bias;
  run_gemm(ctx, g, s, stream);
}

namespace {

// dweight += dout^T @ inp (fp32), dbias += column sums of dout.
void parameter_grads(MatmulContext& ctx, float* dweight, float* dbias, const bf16* dout, const bf16* inp,
                     const OpShape& s, cudaStream_t stream, bool accumulate) {
  Gemm gw;
  gw.trans_b = true;
  gw.m = s.C, gw.n = s.OC, gw.k = s.N;
  gw.a = inp, gw.b = dout, gw.d = dweight;
  gw.c_type = CUDA_R_32F;
  gw.beta = accumulate ? 1.f : 0.f;  // 0: the old values are not read
  run_gemm(ctx, gw, s, stream);
  // The matmul is done with the workspace by then (one stream).
  if (dbias) bias_grad(dbias, dout, s.N, s.OC, ctx.workspace(), ctx.workspace_bytes(), stream, accumulate);
}

// An input-gradient product (input_grad_gemm) with the weight transposed
// into the workspace first, its A read as op T: cuBLASLt's DGELU kernels for
// the weight as stored (NN) were slower than for TN in one probe on an H100
// at 124M's MLP output layer (bench/gelu_gemm_probe.cu: 185 against 157 us)
// and equal in another (163 and 164); in the step, 180 us (NN) and 165 (TN);
// the transpose moves 9.4 MB (docs/results/gpu-training.md). Only where the
// copy takes at most half the workspace
// (cuBLASLt keeps the rest); false where it does not fit or cuBLASLt offers
// nothing, and the caller runs g as it is.
// The workspace a weight transposed there takes ([C, OC] bf16, 256-byte rounded).
size_t transposed_weight_bytes(const OpShape& s) {
  return round_up_256(static_cast<size_t>(s.OC * s.C) * sizeof(bf16));
}

bool try_gemm_transposed_weight(MatmulContext& ctx, Gemm g, const bf16* weight, const OpShape& s,
                                cudaStream_t stream) {
  const size_t bytes = transposed_weight_bytes(s);
  if (bytes > ctx.workspace_bytes() / 2) return false;
  bf16* transposed = static_cast<bf16*>(ctx.workspace());  // [C, OC]
  transpose(transposed, weight, s.OC, s.C, stream);
  g.trans_a = true;
  g.a = transposed;
  g.workspace_taken = bytes;
  return try_gemm(ctx, g, s, stream);
}

// Hopper: dpre = (dout @ weight) * GELU'(pre) by our product, which takes
// the weight K-major: transposed into the workspace first ([C, OC], ~4 us
// at the MLP's shapes). dpre_sums (optional) += the column sums of dpre
// from the product's epilogue (a partial a tile of rows, beside the weight
// in the workspace, then added up in order), where those partials fit
// there; *sums_taken says whether they did.
bool try_gemm_sm90_dgelu(MatmulContext& ctx, bf16* dpre, float* dpre_sums, const bf16* pre, const bf16* dout,
                         const bf16* weight, const OpShape& s, cudaStream_t stream, bool accumulate,
                         bool* sums_taken) {
  const size_t weight_bytes = transposed_weight_bytes(s);
  bf16* transposed = static_cast<bf16*>(ctx.workspace());
  GemmSm90Args fused{dout, transposed, dpre, nullptr, pre, nullptr, s.N, s.C, s.OC, GemmEpilogue::Dgelu,
                     ctx.gelu_products() == GeluProducts::Sm90Pairs};
  if (ctx.gelu_products() == GeluProducts::Cublaslt || weight_bytes > ctx.workspace_bytes() ||
      !gemm_sm90_suits(fused))
    return false;
  const int64_t row_tiles = gemm_sm90_row_tiles(s.N);
  const size_t partial_bytes = static_cast<size_t>(row_tiles * s.C) * sizeof(float);
  if (dpre_sums && weight_bytes + partial_bytes <= ctx.workspace_bytes())
    fused.column_partials = reinterpret_cast<float*>(static_cast<char*>(ctx.workspace()) + weight_bytes);
  transpose(transposed, weight, s.OC, s.C, stream);
  gemm_sm90(fused, stream);
  *sums_taken = fused.column_partials != nullptr;
  if (*sums_taken) add_chunk_sums({dpre_sums}, fused.column_partials, row_tiles, s.C, stream, accumulate);
  return true;
}

// dinp = dout @ weight, with the given epilogue (and its aux input).
Gemm input_grad_gemm(bf16* dinp, const bf16* dout, const bf16* weight, const OpShape& s) {
  Gemm g;
  g.m = s.C, g.n = s.N, g.k = s.OC;
  g.a = weight, g.b = dout, g.d = dinp;
  return g;
}

// dpre = (dout @ weight) * GELU'(pre) through cuBLASLt: its DGELU epilogue
// where it fuses one, else the product and then GELU's backward as a pass.
void cublaslt_dgelu(MatmulContext& ctx, bf16* dpre, const bf16* pre, const bf16* dout, const bf16* weight,
                    const OpShape& s, cudaStream_t stream) {
  Gemm g = input_grad_gemm(dpre, dout, weight, s);
  g.epilogue = CUBLASLT_EPILOGUE_DGELU;
  g.aux = pre;
  if (gelu_epilogue_possible(s.C) &&
      (try_gemm_transposed_weight(ctx, g, weight, s, stream) || try_gemm(ctx, g, s, stream)))
    return;
  g.epilogue = CUBLASLT_EPILOGUE_DEFAULT, g.aux = nullptr;
  run_gemm(ctx, g, s, stream);
  gelu_backward(dpre, pre, static_cast<const bf16*>(dpre), s.N * s.C, stream);
}

}  // namespace

void matmul_backward(MatmulContext& ctx, bf16* dinp, float* dweight, float* dbias, const bf16* dout,
                     const bf16* inp, const bf16* weight, int64_t N, int64_t C, int64_t OC, cudaStream_t stream,
                     bool accumulate) {
  const OpShape s{"matmul_backward", N, C, OC};
  validate(s);
  // Parameter gradients first: dinp may take inp's place.
  parameter_grads(ctx, dweight, dbias, dout, inp, s, stream, accumulate);
  if (dinp) run_gemm(ctx, input_grad_gemm(dinp, dout, weight, s), s, stream);
}

void matmul_residual_forward(MatmulContext& ctx, bf16* out, const bf16* inp, const bf16* weight,
                             const bf16* bias, const bf16* residual, int64_t N, int64_t C, int64_t OC,
                             cudaStream_t stream) {
  const OpShape s{"matmul_residual_forward", N, C, OC};
  validate(s);
  if (MatvecArgs m{out, inp, weight, bias, N, C, OC, MatvecEpilogue::Residual, residual}; matvec_suits(m))
    return matvec(m, stream);
  Gemm g;
  g.trans_a = true;
  g.m = OC, g.n = N, g.k = C;
  g.a = weight, g.b = inp, g.d = out, g.bias = bias;
  g.c = residual, g.beta = 1.f;
  run_gemm(ctx, g, s, stream);
}

void matmul_gelu_forward(MatmulContext& ctx, bf16* out, bf16* pre, const bf16* inp, const bf16* weight,
                         const bf16* bias, int64_t N, int64_t C, int64_t OC, cudaStream_t stream) {
  const OpShape s{"matmul_gelu_forward", N, C, OC};
  validate(s);
  if (MatvecArgs m{out, inp, weight, bias, N, C, OC, MatvecEpilogue::Gelu, nullptr, pre}; matvec_suits(m))
    return matvec(m, stream);
  // Hopper, where chosen: our product with the epilogue fused (cuBLASLt's
  // GELU_AUX_BIAS kernels run at two thirds of its plain ones' speed).
  const GemmSm90Args fused{inp, weight, out, pre, nullptr, bias, N, OC, C, GemmEpilogue::GeluAuxBias,
                           ctx.gelu_products() == GeluProducts::Sm90Pairs};
  if (ctx.gelu_products() != GeluProducts::Cublaslt && gemm_sm90_suits(fused)) return gemm_sm90(fused, stream);
  Gemm g;
  g.trans_a = true;
  g.m = OC, g.n = N, g.k = C;
  g.a = weight, g.b = inp, g.d = out, g.bias = bias;
  g.epilogue = CUBLASLT_EPILOGUE_GELU_AUX;
  g.aux = pre;
  if (gelu_epilogue_possible(OC) && try_gemm(ctx, g, s, stream)) return;
  // Unfused: the product into pre, then GELU as a pass of its own.
  g.epilogue = CUBLASLT_EPILOGUE_DEFAULT, g.aux = nullptr, g.d = pre;
  run_gemm(ctx, g, s, stream);
  gelu_forward(out, static_cast<const bf16*>(pre), N * OC, stream);
}

void matmul_gelu_backward(MatmulContext& ctx, bf16* dpre, const bf16* pre, float* dweight, float* dbias,
                          float* dpre_sums, const bf16* dout, const bf16* inp, const bf16* weight, int64_t N, int64_t C,
                          int64_t OC, cudaStream_t stream, bool accumulate) {
  const OpShape s{"matmul_gelu_backward", N, C, OC};
  validate(s);
  // Parameter gradients first: dpre may take inp's place (GELU(pre) is not
  // needed once they are taken).
  parameter_grads(ctx, dweight, dbias, dout, inp, s, stream, accumulate);
  bool sums_taken = false;
  if (!try_gemm_sm90_dgelu(ctx, dpre, dpre_sums, pre, dout, weight, s, stream, accumulate, &sums_taken))
    cublaslt_dgelu(ctx, dpre, pre, dout, weight, s, stream);
  // Else a pass over dpre; the products are done with the workspace by then (one stream).
  if (dpre_sums && !sums_taken)
    bias_grad(dpre_sums, dpre, N, C, ctx.workspace(), ctx.workspace_bytes(), stream, accumulate);
}

}  // namespace alibi::cuda
