// What cuBLASLt offers for the MLP's fused products at GPT-2 124M's training
// shapes (N = 16 x 1024 rows, C = 768, F = 3072), before building on it:
// each case's heuristic candidates (up to 16) timed on random data, the
// fastest kept. Cases: the fc forward with and without its GELU epilogue and
// bias, in both weight layouts; the qkv forward with and without its bias;
// the MLP output layer's input gradient with DGELU in the layout we had (NN:
// the weight as stored) and with the weight transposed (TN), and the
// weight-gradient products with and without the bias gradient in a BGRADB
// epilogue (fp32).
// Then an exhaustive search for the three epilogue products we run (fc
// forward GELU_AUX_BIAS, the output layer's dX with DGELU, qkv forward BIAS):
// every algo id, tile, stages, CTA swizzle and cluster shape that
// cublasLtMatmulAlgoCheck accepts (split-K 1), each screened by one timed run
// after one warm-up, the fastest re-timed (median of 10 after 2) next to the
// heuristic's own candidates; the 5 fastest printed. Time-boxed to keep the
// whole binary near a minute on an H100. Not built by CMake; build and run by
// hand on the GPU machine (or build here and carry the binary):
//   nvcc -O2 -std=c++17 -gencode=arch=compute_90a,code=sm_90a bench/gelu_gemm_probe.cu -lcublasLt -o gelu_gemm_probe
//   ./gelu_gemm_probe
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

__global__ void fill_random(__nv_bfloat16* p, size_t n, unsigned seed) {
  const size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  if (i >= n) return;
  unsigned x = static_cast<unsigned>(i) * 2654435761u ^ seed;
  x ^= x >> 13, x *= 0x5bd1e995u, x ^= x >> 15;
  p[i] = __float2bfloat16((x & 0xffff) / 65536.f - 0.5f);
}

void* random_bf16(size_t n, unsigned seed) {
  __nv_bfloat16* p = nullptr;
  check(cudaMalloc(&p, n * sizeof(__nv_bfloat16)), "cudaMalloc");
  fill_random<<<(n + 255) / 256, 256>>>(p, n, seed);
  return p;
}

void* zeros(size_t bytes) {
  void* p = nullptr;
  check(cudaMalloc(&p, bytes), "cudaMalloc");
  check(cudaMemset(p, 0, bytes), "cudaMemset");
  return p;
}

// out = max(out, largest |x - y|), as float bits: non-negative floats order
// like their bits, and a NaN's bits exceed infinity's.
__global__ void max_abs_diff(const __nv_bfloat16* x, const __nv_bfloat16* y, size_t n, unsigned* out) {
  float m = 0.f;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) {
    const float d = fabsf(__bfloat162float(x[i]) - __bfloat162float(y[i]));
    if (d > m || d != d) m = d;  // not fmaxf, which would drop a NaN; once NaN, m stays NaN
  }
  atomicMax(out, __float_as_uint(m));
}

struct Case {
  const char* name;
  bool trans_a, trans_b;
  long m, n, k;
  cudaDataType_t d_type;
  cublasLtEpilogue_t epilogue;
  bool bias_f32;  // the bias (or bias gradient) vector's type: fp32, else bf16
  float beta;
};

cublasLtHandle_t handle;
void* workspace;
constexpr size_t kWorkspaceBytes = 32u << 20;
constexpr cublasComputeType_t kCompute = CUBLAS_COMPUTE_32F;
constexpr cudaDataType_t kScale = CUDA_R_32F;

// One case's operands on the GPU and its descriptors: what both the heuristic
// timing and the search run on.
struct Problem {
  Case c;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
  void *a = nullptr, *b = nullptr, *d = nullptr, *bias = nullptr, *aux = nullptr;
};

Problem make_problem(const Case& c) {
  Problem p{c};
  cublasLtMatmulDescCreate(&p.desc, kCompute, kScale);
  const cublasOperation_t op_a = c.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = c.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a));
  cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b));
  p.a = random_bf16(size_t(c.m) * c.k, 1);
  p.b = random_bf16(size_t(c.n) * c.k, 2);
  const size_t d_elem = c.d_type == CUDA_R_32F ? 4 : 2;
  p.d = zeros(size_t(c.m) * c.n * d_elem);
  const bool grad_of_bias = c.epilogue == CUBLASLT_EPILOGUE_BGRADB || c.epilogue == CUBLASLT_EPILOGUE_DGELU_BGRAD;
  const long bias_len = c.epilogue == CUBLASLT_EPILOGUE_BGRADB ? c.n : c.m;
  if (c.epilogue != CUBLASLT_EPILOGUE_DEFAULT) {
    cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &c.epilogue, sizeof(c.epilogue));
    const bool has_bias = grad_of_bias || c.epilogue == CUBLASLT_EPILOGUE_BIAS ||
                          c.epilogue == CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
    if (has_bias) {
      p.bias = grad_of_bias ? zeros(bias_len * 4) : random_bf16(bias_len, 3);
      const cudaDataType_t t = c.bias_f32 ? CUDA_R_32F : CUDA_R_16BF;
      cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &p.bias, sizeof(p.bias));
      cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &t, sizeof(t));
    }
    if (c.epilogue == CUBLASLT_EPILOGUE_GELU_AUX_BIAS || c.epilogue == CUBLASLT_EPILOGUE_GELU_AUX ||
        c.epilogue == CUBLASLT_EPILOGUE_DGELU || c.epilogue == CUBLASLT_EPILOGUE_DGELU_BGRAD) {
      p.aux = random_bf16(size_t(c.m) * c.n, 4);
      const int64_t ld = c.m;
      const cudaDataType_t t = CUDA_R_16BF;
      cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &p.aux, sizeof(p.aux));
      cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld, sizeof(ld));
      cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE, &t, sizeof(t));
    }
  }
  cublasLtMatrixLayoutCreate(&p.la, CUDA_R_16BF, c.trans_a ? c.k : c.m, c.trans_a ? c.m : c.k, c.trans_a ? c.k : c.m);
  cublasLtMatrixLayoutCreate(&p.lb, CUDA_R_16BF, c.trans_b ? c.n : c.k, c.trans_b ? c.k : c.n, c.trans_b ? c.n : c.k);
  cublasLtMatrixLayoutCreate(&p.ld, c.d_type, c.m, c.n, c.m);
  return p;
}

void free_problem(Problem& p) {
  for (void* q : {p.a, p.b, p.d, p.bias, p.aux})
    if (q) cudaFree(q);
  cublasLtMatrixLayoutDestroy(p.la), cublasLtMatrixLayoutDestroy(p.lb), cublasLtMatrixLayoutDestroy(p.ld);
  cublasLtMatmulDescDestroy(p.desc);
}

cublasStatus_t matmul(const Problem& p, const cublasLtMatmulAlgo_t& algo) {
  const float alpha = 1.f;
  return cublasLtMatmul(handle, p.desc, &alpha, p.a, p.la, p.b, p.lb, &p.c.beta, p.d, p.ld, p.d, p.ld, &algo,
                        workspace, kWorkspaceBytes, nullptr);
}

// False when a CUDA error is pending (it is cleared). A sticky error (the
// context is lost) also sets context_lost, after which nothing more can run.
bool context_lost = false;
bool cuda_clean() {
  if (cudaGetLastError() == cudaSuccess) return true;
  if (cudaDeviceSynchronize() != cudaSuccess) context_lost = true;
  return false;
}

float run_failed() {
  cuda_clean();
  return -1.f;
}

// Median ms of `reps` timed runs after `warmups` untimed ones; negative when
// any run (or the timing around it) fails.
float time_algo(const Problem& p, const cublasLtMatmulAlgo_t& algo, int warmups, int reps, cudaEvent_t start,
                cudaEvent_t stop) {
  for (int w = 0; w < warmups; ++w)
    if (matmul(p, algo) != CUBLAS_STATUS_SUCCESS) return run_failed();
  std::vector<float> ms(reps);
  for (float& t : ms) {
    cudaEventRecord(start);
    const cublasStatus_t st = matmul(p, algo);
    cudaEventRecord(stop);
    if (st != CUBLAS_STATUS_SUCCESS || cudaEventSynchronize(stop) != cudaSuccess ||
        cudaEventElapsedTime(&t, start, stop) != cudaSuccess)
      return run_failed();
  }
  if (!cuda_clean()) return -1.f;
  std::sort(ms.begin(), ms.end());
  return ms[reps / 2];
}

// One configuration, as its algo struct says (read back, not as we meant it).
struct Config {
  cublasLtMatmulAlgo_t algo;
  int32_t id = -1, splitk = 1;
  uint32_t tile = 0, stages = 0, swizzle = 0, custom = 0;
  uint16_t cluster = 0;
  size_t workspace = 0;
  int heuristic_rank = -1;  // >= 0: the heuristic's candidate of that rank
  float screen_ms = -1, ms = -1;
  float diff = -1;  // largest |D - the heuristic #0's D|; negative: not compared
};

template <typename T>
void config_get(const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoConfigAttributes_t attr, T* out) {
  size_t written = 0;
  cublasLtMatmulAlgoConfigGetAttribute(&algo, attr, out, sizeof(T), &written);  // left as is on failure
}

Config describe(const cublasLtMatmulAlgo_t& algo) {
  Config c;
  c.algo = algo;
  config_get(algo, CUBLASLT_ALGO_CONFIG_ID, &c.id);  // int32_t
  config_get(algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &c.tile);  // uint32_t
  config_get(algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &c.stages);  // uint32_t
  config_get(algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, &c.swizzle);  // uint32_t
  config_get(algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &c.splitk);  // int32_t
  config_get(algo, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION, &c.custom);  // uint32_t
  config_get(algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, &c.cluster);  // uint16_t
  return c;
}

bool same_config(const Config& x, const Config& y) {
  return x.id == y.id && x.tile == y.tile && x.stages == y.stages && x.swizzle == y.swizzle && x.splitk == y.splitk &&
         x.custom == y.custom && x.cluster == y.cluster;
}

// The heuristic's candidates for p (at most 16), fastest-predicted first.
// Returned as Configs: nvcc 13.0 in C++20 mode crashes (internal error) on a
// std::vector of cuBLASLt's anonymous typedef'd structs.
std::vector<Config> heuristic(const Problem& p, cublasStatus_t* status) {
  cublasLtMatmulPreference_t pref;
  cublasLtMatmulPreferenceCreate(&pref);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &kWorkspaceBytes,
                                       sizeof(kWorkspaceBytes));
  cublasLtMatmulHeuristicResult_t results[16];
  int found = 0;
  *status = cublasLtMatmulAlgoGetHeuristic(handle, p.desc, p.la, p.lb, p.ld, p.ld, pref, 16, results, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  std::vector<Config> out;
  for (int i = 0; *status == CUBLAS_STATUS_SUCCESS && i < found; ++i) {
    out.push_back(describe(results[i].algo));  // algo kept as returned (reduction scheme and all)
    out.back().workspace = results[i].workspaceSize;
    out.back().heuristic_rank = i;
  }
  return out;
}

// The fastest heuristic candidate's median ms (of 10 runs after 3), or -1.
float run_case(const Case& c) {
  Problem p = make_problem(c);
  cublasStatus_t st;
  const std::vector<Config> results = heuristic(p, &st);
  const int found = int(results.size());
  const double gflop = 2e-9 * c.m * c.n * c.k;
  float best = 1e30f;
  int best_i = -1;
  if (st != CUBLAS_STATUS_SUCCESS || found == 0) {
    std::printf("%-44s heuristic: status %d, %d found\n", c.name, int(st), found);
  } else {
    cudaEvent_t start, stop;
    cudaEventCreate(&start), cudaEventCreate(&stop);
    for (int i = 0; i < found; ++i) {
      const float ms = time_algo(p, results[i].algo, 3, 10, start, stop);
      if (ms >= 0 && ms < best) best = ms, best_i = i;
    }
    if (best_i < 0)
      std::printf("%-44s %d candidates, none ran\n", c.name, found);
    else
      std::printf("%-44s %7.1f us  %6.0f TFLOP/s  (candidate %d of %d)\n", c.name, best * 1e3,
                  gflop / best, best_i, found);
    cudaEventDestroy(start), cudaEventDestroy(stop);
  }
  check(cudaGetLastError(), c.name);
  free_problem(p);
  return best_i < 0 ? -1.f : best;
}

// ---------------------------------------------------------------------------
// Exhaustive search: every configuration cuBLASLt will run, not only the
// heuristic's few.

using Clock = std::chrono::steady_clock;
constexpr double kCheckBudgetS = 3;  // per product, enumerating + cublasLtMatmulAlgoCheck
constexpr double kScreenBudgetS = 9;  // per product, the one-run screen
constexpr size_t kMaxScreened = 1500;  // configs screened per product (a random sample when more are valid)
constexpr size_t kRefined = 24;  // screen's fastest re-timed with the median of 10

// Thread-block cluster shapes to try. CUDA 13.0's cublasLt.h has no
// capability listing an algo's cluster shapes (CUBLASLT_ALGO_CAP_* stops at
// FLOATING_POINT_EMULATION_SUPPORT), so each is set and
// cublasLtMatmulAlgoCheck decides. H100's portable cluster limit is 8 CTAs.
struct ClusterShape {
  uint16_t id;
  const char* name;
};
constexpr ClusterShape kClusters[] = {
    {CUBLASLT_CLUSTER_SHAPE_AUTO, "auto"},  {CUBLASLT_CLUSTER_SHAPE_1x1x1, "1x1"},
    {CUBLASLT_CLUSTER_SHAPE_2x1x1, "2x1"},  {CUBLASLT_CLUSTER_SHAPE_1x2x1, "1x2"},
    {CUBLASLT_CLUSTER_SHAPE_2x2x1, "2x2"},  {CUBLASLT_CLUSTER_SHAPE_4x1x1, "4x1"},
    {CUBLASLT_CLUSTER_SHAPE_1x4x1, "1x4"},  {CUBLASLT_CLUSTER_SHAPE_4x2x1, "4x2"},
    {CUBLASLT_CLUSTER_SHAPE_2x4x1, "2x4"},  {CUBLASLT_CLUSTER_SHAPE_8x1x1, "8x1"},
    {CUBLASLT_CLUSTER_SHAPE_1x8x1, "1x8"},
};

const char* cluster_name(uint16_t id) {
  for (const ClusterShape& s : kClusters)
    if (s.id == id) return s.name;
  return "?";
}

// cublasLtMatmulTile_t's names up to 35 (the sizes Hopper kernels use are
// there); later ids print as their number only (see cublasLt.h).
const char* tile_name(uint32_t id) {
  static const char* const names[] = {
      "undef",  "8x8",     "8x16",    "16x8",    "8x32",    "16x16",   "32x8",    "8x64",    "16x32",
      "32x16",  "64x8",    "32x32",   "32x64",   "64x32",   "32x128",  "64x64",   "128x32",  "64x128",
      "128x64", "64x256",  "128x128", "256x64",  "64x512",  "128x256", "256x128", "512x64",  "64x96",
      "96x64",  "96x128",  "128x160", "160x128", "192x128", "128x192", "128x96",  "32x256",  "256x32"};
  return id < sizeof(names) / sizeof(names[0]) ? names[id] : "";
}

// cublasLtMatmulStages_t's names (29 and 30 are unused).
const char* stages_name(uint32_t id) {
  static const char* const names[] = {
      "undef", "16x1",  "16x2",  "16x3",  "16x4",  "16x5",   "16x6",   "32x1",   "32x2",   "32x3",
      "32x4",  "32x5",  "32x6",  "64x1",  "64x2",  "64x3",   "64x4",   "64x5",   "64x6",   "128x1",
      "128x2", "128x3", "128x4", "128x5", "128x6", "32x10",  "8x4",    "16x10",  "8x5",    "?",
      "?",     "8x3",   "8xA",   "16xA",  "32xA",  "64xA",   "128xA",  "256xA",  "768xA"};
  return id < sizeof(names) / sizeof(names[0]) ? names[id] : "";
}

struct SearchStats {
  int ids = 0, ids_epilogue = 0;  // algo ids listed; those whose epilogue mask has ours
  bool mask_ignored = false;  // no id's mask had it: every id tried, AlgoCheck alone deciding
  long checked = 0, valid = 0, over_workspace = 0;
  size_t screened = 0, run_errors = 0;  // run_errors: in the screen or the re-timing
  bool check_cut = false, screen_cut = false;  // a time budget ran out
};

// A scalar capability (uint32_t ones: EPILOGUE_MASK, CTA_SWIZZLING_SUPPORT).
bool cap_u32(const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoCapAttributes_t attr, uint32_t* out) {
  size_t written = 0;
  return cublasLtMatmulAlgoCapGetAttribute(&algo, attr, out, sizeof(*out), &written) == CUBLAS_STATUS_SUCCESS &&
         written == sizeof(*out);
}

// An array capability of uint32_t ids (TILE_IDS, STAGES_IDS): its size asked
// first (sizeInBytes 0), then read. Empty or unreadable: {none_value}, the
// "undefined" id the header says to use then.
std::vector<uint32_t> cap_ids(const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoCapAttributes_t attr,
                              uint32_t none_value) {
  size_t bytes = 0;
  if (cublasLtMatmulAlgoCapGetAttribute(&algo, attr, nullptr, 0, &bytes) != CUBLAS_STATUS_SUCCESS ||
      bytes < sizeof(uint32_t))
    return {none_value};
  std::vector<uint32_t> ids(bytes / sizeof(uint32_t));
  size_t written = 0;
  if (cublasLtMatmulAlgoCapGetAttribute(&algo, attr, ids.data(), ids.size() * sizeof(uint32_t), &written) !=
      CUBLAS_STATUS_SUCCESS)
    return {none_value};
  ids.resize(written / sizeof(uint32_t));
  if (ids.empty()) ids.push_back(none_value);
  return ids;
}

std::vector<int> algo_ids(cudaDataType_t d_type) {
  std::vector<int> ids(1024);
  int n = 0;
  if (cublasLtMatmulAlgoGetIds(handle, kCompute, kScale, CUDA_R_16BF, CUDA_R_16BF, d_type, d_type, int(ids.size()),
                               ids.data(), &n) != CUBLAS_STATUS_SUCCESS)
    n = 0;
  ids.resize(n);
  return ids;
}

template <typename T>
bool config_set(cublasLtMatmulAlgo_t* algo, cublasLtMatmulAlgoConfigAttributes_t attr, T value) {
  return cublasLtMatmulAlgoConfigSetAttribute(algo, attr, &value, sizeof(value)) == CUBLAS_STATUS_SUCCESS;
}

// Sets one configuration on a copy of `base` and asks cublasLtMatmulAlgoCheck
// about it; true (and *out filled) when it would run within our workspace.
bool try_config(const Problem& p, cublasLtMatmulAlgo_t algo, uint32_t tile, uint32_t stages, uint32_t swizzle,
                uint16_t cluster, Config* out, SearchStats& s) {
  // Attribute types as cublasLt.h documents them: TILE_ID, STAGES_ID,
  // CTA_SWIZZLING uint32_t; SPLITK_NUM int32_t; CLUSTER_SHAPE_ID uint16_t.
  // The cluster is left at its default (auto) unless asked, so an algo
  // without clusters still gets its plain configurations.
  if (!config_set<uint32_t>(&algo, CUBLASLT_ALGO_CONFIG_TILE_ID, tile) ||
      !config_set<uint32_t>(&algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, stages) ||
      !config_set<uint32_t>(&algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, swizzle) ||
      !config_set<int32_t>(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, 1) ||
      (cluster != CUBLASLT_CLUSTER_SHAPE_AUTO &&
       !config_set<uint16_t>(&algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, cluster)))
    return false;
  ++s.checked;
  cublasLtMatmulHeuristicResult_t r;
  std::memset(&r, 0, sizeof(r));
  if (cublasLtMatmulAlgoCheck(handle, p.desc, p.la, p.lb, p.ld, p.ld, &algo, &r) != CUBLAS_STATUS_SUCCESS)
    return false;
  if (r.workspaceSize > kWorkspaceBytes) {
    ++s.over_workspace;
    return false;
  }
  ++s.valid;
  *out = describe(algo);
  out->workspace = r.workspaceSize;
  return true;
}

bool init_algo(const Problem& p, int id, cublasLtMatmulAlgo_t* algo) {
  return cublasLtMatmulAlgoInit(handle, kCompute, kScale, CUDA_R_16BF, CUDA_R_16BF, p.c.d_type, p.c.d_type, id, algo) ==
         CUBLAS_STATUS_SUCCESS;
}

// Every configuration of algo `id` that AlgoCheck accepts, appended to out.
// Explicit cluster shapes are tried only where the tile and stages passed
// with the automatic one, which keeps the checks ~10x fewer.
void configs_of_id(const Problem& p, int id, Clock::time_point deadline, std::vector<Config>& out, SearchStats& s) {
  cublasLtMatmulAlgo_t base;
  if (!init_algo(p, id, &base)) return;
  const std::vector<uint32_t> tiles = cap_ids(base, CUBLASLT_ALGO_CAP_TILE_IDS, CUBLASLT_MATMUL_TILE_UNDEFINED);
  const std::vector<uint32_t> stages = cap_ids(base, CUBLASLT_ALGO_CAP_STAGES_IDS, CUBLASLT_MATMUL_STAGES_UNDEFINED);
  uint32_t swizzle_support = 0;
  if (!cap_u32(base, CUBLASLT_ALGO_CAP_CTA_SWIZZLING_SUPPORT, &swizzle_support)) swizzle_support = 0;
  for (uint32_t tile : tiles)
    for (uint32_t st : stages)
      for (uint32_t swizzle = 0; swizzle <= (swizzle_support ? 1u : 0u); ++swizzle) {
        if (Clock::now() > deadline) {
          s.check_cut = true;
          return;
        }
        Config c;
        if (!try_config(p, base, tile, st, swizzle, CUBLASLT_CLUSTER_SHAPE_AUTO, &c, s)) continue;
        out.push_back(c);
        for (const ClusterShape& shape : kClusters)
          if (shape.id != CUBLASLT_CLUSTER_SHAPE_AUTO && try_config(p, base, tile, st, swizzle, shape.id, &c, s))
            out.push_back(c);
      }
}

// All valid configurations of p, over every algo id the types allow.
std::vector<Config> enumerate_configs(const Problem& p, SearchStats& s) {
  const std::vector<int> ids = algo_ids(p.c.d_type);
  s.ids = int(ids.size());
  // Which ids' EPILOGUE_MASK has every bit of our epilogue (the epilogue
  // values are bit sets: GELU_AUX_BIAS = GELU | AUX | BIAS).
  std::vector<int> chosen;
  for (int id : ids) {
    cublasLtMatmulAlgo_t algo;
    uint32_t mask = 0;
    if (init_algo(p, id, &algo) && cap_u32(algo, CUBLASLT_ALGO_CAP_EPILOGUE_MASK, &mask) &&
        (mask & p.c.epilogue) == uint32_t(p.c.epilogue))
      chosen.push_back(id);
  }
  s.ids_epilogue = int(chosen.size());
  // Should no mask have it (the mask read otherwise than we think), try every
  // id and let AlgoCheck alone decide rather than search nothing.
  s.mask_ignored = chosen.empty();
  if (s.mask_ignored) chosen = ids;
  std::vector<Config> out;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(kCheckBudgetS));
  for (int id : chosen) configs_of_id(p, id, deadline, out, s);
  return out;
}

// At most `cap` of v in a random order (fixed seed): should the cap or the
// screen's budget cut the list, what is left is a fair sample of every algo id
// rather than the first few ids' configurations.
std::vector<Config> sample(std::vector<Config> v, size_t cap) {
  std::mt19937 rng(12345);
  std::shuffle(v.begin(), v.end(), rng);
  if (v.size() > cap) v.resize(cap);
  return v;
}

// One warm-up and one timed run each, within the screen's budget; sets
// screen_ms (negative: it failed, counted in run_errors).
void screen(const Problem& p, std::vector<Config>& configs, SearchStats& s, cudaEvent_t start, cudaEvent_t stop) {
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(kScreenBudgetS));
  for (Config& c : configs) {
    if (context_lost) return;
    if (Clock::now() > deadline) {
      s.screen_cut = true;
      return;
    }
    c.screen_ms = time_algo(p, c.algo, 1, 1, start, stop);
    ++s.screened;
    if (c.screen_ms < 0) ++s.run_errors;
  }
}

// Largest |D - ref| after one run of algo (beta is 0: D is all this run's);
// negative when the run or the comparison fails.
float diff_from(const Problem& p, const cublasLtMatmulAlgo_t& algo, const void* ref, unsigned* scratch) {
  unsigned bits = 0;
  if (cudaMemset(scratch, 0, sizeof(unsigned)) != cudaSuccess || matmul(p, algo) != CUBLAS_STATUS_SUCCESS)
    return run_failed();
  max_abs_diff<<<1024, 256>>>(static_cast<const __nv_bfloat16*>(p.d), static_cast<const __nv_bfloat16*>(ref),
                              size_t(p.c.m) * p.c.n, scratch);
  if (cudaMemcpy(&bits, scratch, sizeof(bits), cudaMemcpyDeviceToHost) != cudaSuccess || !cuda_clean())
    return run_failed();
  float d;
  std::memcpy(&d, &bits, sizeof(d));
  return d;
}

// Sets diff on the 5 fastest: their D against the heuristic's first
// candidate's, so a faster configuration that computes something else shows.
// Only for bf16 D with beta 0 (the three searched products).
void compare_outputs(const Problem& p, std::vector<Config>& timed, const Config* reference) {
  if (!reference || p.c.d_type != CUDA_R_16BF || p.c.beta != 0.f || context_lost) return;
  const size_t bytes = size_t(p.c.m) * p.c.n * sizeof(__nv_bfloat16);
  void* ref = nullptr;
  unsigned* scratch = nullptr;
  if (cudaMalloc(&ref, bytes) == cudaSuccess && cudaMalloc(&scratch, sizeof(unsigned)) == cudaSuccess &&
      matmul(p, reference->algo) == CUBLAS_STATUS_SUCCESS &&
      cudaMemcpy(ref, p.d, bytes, cudaMemcpyDeviceToDevice) == cudaSuccess)
    for (size_t i = 0; i < timed.size() && i < 5; ++i) timed[i].diff = diff_from(p, timed[i].algo, ref, scratch);
  cuda_clean();
  cudaFree(ref), cudaFree(scratch);
}

void print_config(const char* label, const Config& c, double gflop) {
  std::printf("  %-8s %7.1f us  %4.0f TFLOP/s  id %3d  tile %3u %-7s  stages %2u %-5s  cluster %2u %-4s  swizzle %u",
              label, c.ms * 1e3, gflop / c.ms, c.id, c.tile, tile_name(c.tile), c.stages, stages_name(c.stages),
              unsigned(c.cluster), cluster_name(c.cluster), c.swizzle);
  if (c.splitk != 1 || c.custom != 0) std::printf("  splitK %d custom %u", c.splitk, c.custom);
  if (c.diff >= 0) std::printf("  maxdiff %.3g", c.diff);
  if (c.heuristic_rank >= 0) std::printf("  (heuristic #%d)", c.heuristic_rank);
  std::printf("\n");
}

void print_search(const Case& c, const SearchStats& s, const std::vector<Config>& timed, size_t refined,
                  float heuristic_ms) {
  const double gflop = 2e-9 * c.m * c.n * c.k;
  std::printf("\nsearch: %s\n", c.name);
  std::printf("  algo ids %d, with the epilogue in their mask %d%s; configs checked %ld, valid %ld "
              "(%ld more over the %zu MiB workspace)%s\n",
              s.ids, s.ids_epilogue, s.mask_ignored ? " (none: all ids tried)" : "", s.checked, s.valid,
              s.over_workspace, kWorkspaceBytes >> 20, s.check_cut ? ", check budget ran out" : "");
  std::printf("  screened %zu (1 run after 1), %zu failed to run%s; %zu re-timed (median of 10 after 2) with the "
              "heuristic's candidates; maxdiff: largest |D - heuristic #0's D|\n",
              s.screened, s.run_errors, s.screen_cut ? ", screen budget ran out" : "", refined);
  if (context_lost) std::printf("  the CUDA context was lost: the search stopped there\n");
  if (heuristic_ms > 0)
    std::printf("  heuristic best above: %.1f us  %.0f TFLOP/s\n", heuristic_ms * 1e3, gflop / heuristic_ms);
  for (size_t i = 0; i < timed.size() && i < 5; ++i) {
    char label[16];
    std::snprintf(label, sizeof(label), "#%zu", i + 1);
    print_config(label, timed[i], gflop);
  }
  for (const Config& t : timed)  // the heuristic's best as re-timed here, if outside the top 5
    if (t.heuristic_rank >= 0) {
      if (&t - timed.data() >= 5) print_config("heur.", t, gflop);
      break;
    }
  if (timed.empty()) std::printf("  nothing ran\n");
}

// The exhaustive search for one case; heuristic_ms: its heuristic best as
// timed by run_case (negative: none).
void search(const Case& c, float heuristic_ms) {
  if (context_lost) return;
  Problem p = make_problem(c);
  SearchStats s;
  std::vector<Config> configs = sample(enumerate_configs(p, s), kMaxScreened);
  cudaEvent_t start, stop;
  cudaEventCreate(&start), cudaEventCreate(&stop);
  screen(p, configs, s, start, stop);
  // The screen's fastest, then the heuristic's candidates (marked where they
  // are already among them), re-timed alike: the heuristic is compared at the
  // same clocks and temperature, not with the number from a minute before.
  std::vector<Config> pool;
  for (const Config& cfg : configs)
    if (cfg.screen_ms >= 0) pool.push_back(cfg);
  std::sort(pool.begin(), pool.end(), [](const Config& x, const Config& y) { return x.screen_ms < y.screen_ms; });
  if (pool.size() > kRefined) pool.resize(kRefined);
  cublasStatus_t st;
  const std::vector<Config> candidates = heuristic(p, &st);
  const Config* heuristic_first = candidates.empty() ? nullptr : &candidates[0];
  for (const Config& h : candidates) {
    auto same = std::find_if(pool.begin(), pool.end(), [&](const Config& x) { return same_config(x, h); });
    if (same == pool.end())
      pool.push_back(h);
    else if (same->heuristic_rank < 0)
      same->heuristic_rank = h.heuristic_rank;
  }
  std::vector<Config> timed;
  for (Config& cfg : pool) {
    if (context_lost) break;
    cfg.ms = time_algo(p, cfg.algo, 2, 10, start, stop);
    if (cfg.ms >= 0)
      timed.push_back(cfg);
    else
      ++s.run_errors;
  }
  std::sort(timed.begin(), timed.end(), [](const Config& x, const Config& y) { return x.ms < y.ms; });
  compare_outputs(p, timed, heuristic_first);
  print_search(c, s, timed, pool.size(), heuristic_ms);
  cudaEventDestroy(start), cudaEventDestroy(stop);
  cuda_clean();
  free_problem(p);
}

}  // namespace

int main() {
  constexpr long N = 16 * 1024, C = 768, F = 3072, QKV = 3 * 768;
  int devices = 0;
  const cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "gelu_gemm_probe: no CUDA device (%s)\n",
                 e != cudaSuccess ? cudaGetErrorString(e) : "none found");
    return 1;
  }
  if (cublasLtCreate(&handle) != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "gelu_gemm_probe: cublasLtCreate failed\n");
    return 1;
  }
  check(cudaMalloc(&workspace, kWorkspaceBytes), "cudaMalloc(workspace)");
  cudaDeviceProp prop;
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  std::printf("%s, cuBLASLt %zu; N=%ld C=%ld F=%ld\n", prop.name, cublasLtGetVersion(), N, C, F);
  const auto bf = CUDA_R_16BF, f32 = CUDA_R_32F;
  const Case fc_ours = {"fc forward, GELU_AUX_BIAS (TN, ours)", true, false, F, N, C, bf,
                        CUBLASLT_EPILOGUE_GELU_AUX_BIAS, false, 0.f};
  const Case qkv_ours = {"qkv forward, BIAS (TN, ours)", true, false, QKV, N, C, bf, CUBLASLT_EPILOGUE_BIAS, false, 0.f};
  const Case dx_ours = {"out layer dX, DGELU (TN: weight transposed, ours)", true, false, F, N, C, bf,
                        CUBLASLT_EPILOGUE_DGELU, false, 0.f};
  const Case cases[] = {
      {"fc forward, plain (TN)", true, false, F, N, C, bf, CUBLASLT_EPILOGUE_DEFAULT, false, 0.f},
      {"fc forward, BIAS (TN)", true, false, F, N, C, bf, CUBLASLT_EPILOGUE_BIAS, false, 0.f},
      fc_ours,
      {"fc forward, GELU_AUX_BIAS (NN: weight transposed)", false, false, F, N, C, bf, CUBLASLT_EPILOGUE_GELU_AUX_BIAS,
       false, 0.f},
      {"fc forward, GELU_AUX, no bias (TN)", true, false, F, N, C, bf, CUBLASLT_EPILOGUE_GELU_AUX, false, 0.f},
      {"qkv forward, plain (TN)", true, false, QKV, N, C, bf, CUBLASLT_EPILOGUE_DEFAULT, false, 0.f},
      qkv_ours,
      {"out layer dX, plain (NN)", false, false, F, N, C, bf, CUBLASLT_EPILOGUE_DEFAULT, false, 0.f},
      {"out layer dX, plain (TN: weight transposed)", true, false, F, N, C, bf, CUBLASLT_EPILOGUE_DEFAULT, false, 0.f},
      {"out layer dX, DGELU (NN)", false, false, F, N, C, bf, CUBLASLT_EPILOGUE_DGELU, false, 0.f},
      dx_ours,
      {"out layer dX, DGELU_BGRAD bf16 (NN)", false, false, F, N, C, bf, CUBLASLT_EPILOGUE_DGELU_BGRAD, false, 0.f},
      {"out layer dX, DGELU_BGRAD bf16 (TN)", true, false, F, N, C, bf, CUBLASLT_EPILOGUE_DGELU_BGRAD, false, 0.f},
      {"qkv dW, plain (NT, fp32 +=)", false, true, C, QKV, N, f32, CUBLASLT_EPILOGUE_DEFAULT, true, 1.f},
      {"qkv dW, BGRADB fp32 (NT, fp32 +=)", false, true, C, QKV, N, f32, CUBLASLT_EPILOGUE_BGRADB, true, 1.f},
      {"proj dW, plain (NT, fp32 +=)", false, true, C, C, N, f32, CUBLASLT_EPILOGUE_DEFAULT, true, 1.f},
      {"proj dW, BGRADB fp32 (NT, fp32 +=)", false, true, C, C, N, f32, CUBLASLT_EPILOGUE_BGRADB, true, 1.f},
      {"fc dW, plain (NT, fp32 +=)", false, true, C, F, N, f32, CUBLASLT_EPILOGUE_DEFAULT, true, 1.f},
      {"fc dW, BGRADB fp32 (NT, fp32 +=)", false, true, C, F, N, f32, CUBLASLT_EPILOGUE_BGRADB, true, 1.f},
      {"out layer dW, plain (NT, fp32 +=)", false, true, F, C, N, f32, CUBLASLT_EPILOGUE_DEFAULT, true, 1.f},
      {"out layer dW, BGRADB fp32 (NT, fp32 +=)", false, true, F, C, N, f32, CUBLASLT_EPILOGUE_BGRADB, true, 1.f},
  };
  float fc_ms = -1, qkv_ms = -1, dx_ms = -1;
  for (const Case& c : cases) {
    const float ms = run_case(c);
    if (c.name == fc_ours.name) fc_ms = ms;
    if (c.name == qkv_ours.name) qkv_ms = ms;
    if (c.name == dx_ours.name) dx_ms = ms;
  }
  std::fflush(stdout);  // the table is out before the search's long minute
  search(fc_ours, fc_ms);
  search(dx_ours, dx_ms);
  search(qkv_ours, qkv_ms);
  cudaFree(workspace);
  cublasLtDestroy(handle);
}
