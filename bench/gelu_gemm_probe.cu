// What cuBLASLt offers for the MLP's fused products at GPT-2 124M's training
// shapes (N = 16 x 1024 rows, C = 768, F = 3072), before building on it:
// each case's heuristic candidates (up to 16) timed on random data, the
// fastest kept. Cases: the fc forward with and without its GELU epilogue and
// bias, in both weight layouts; the qkv forward with and without its bias;
// the MLP output layer's input gradient with DGELU in the layout we had (NN:
// the weight as stored) and with the weight transposed (TN), and the
// weight-gradient products with and without the bias gradient in a BGRADB
// epilogue (fp32). Not built by CMake; build and run by hand on the GPU
// machine (or build here and carry the binary):
//   nvcc -O2 -std=c++17 -gencode=arch=compute_90a,code=sm_90a bench/gelu_gemm_probe.cu -lcublasLt -o gelu_gemm_probe
//   ./gelu_gemm_probe
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
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

// The fastest candidate's median ms (of 10 runs after 3), or a negative status.
void run_case(const Case& c) {
  cublasLtMatmulDesc_t desc;
  cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  const cublasOperation_t op_a = c.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = c.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a));
  cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b));
  void* a = random_bf16(size_t(c.m) * c.k, 1);
  void* b = random_bf16(size_t(c.n) * c.k, 2);
  const size_t d_elem = c.d_type == CUDA_R_32F ? 4 : 2;
  void* d = zeros(size_t(c.m) * c.n * d_elem);
  const bool grad_of_bias = c.epilogue == CUBLASLT_EPILOGUE_BGRADB || c.epilogue == CUBLASLT_EPILOGUE_DGELU_BGRAD;
  const long bias_len = c.epilogue == CUBLASLT_EPILOGUE_BGRADB ? c.n : c.m;
  void* bias = nullptr;
  void* aux = nullptr;
  if (c.epilogue != CUBLASLT_EPILOGUE_DEFAULT) {
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &c.epilogue, sizeof(c.epilogue));
    const bool has_bias = grad_of_bias || c.epilogue == CUBLASLT_EPILOGUE_BIAS ||
                          c.epilogue == CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
    if (has_bias) {
      bias = grad_of_bias ? zeros(bias_len * 4) : random_bf16(bias_len, 3);
      const cudaDataType_t t = c.bias_f32 ? CUDA_R_32F : CUDA_R_16BF;
      cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias));
      cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &t, sizeof(t));
    }
    if (c.epilogue == CUBLASLT_EPILOGUE_GELU_AUX_BIAS || c.epilogue == CUBLASLT_EPILOGUE_GELU_AUX ||
        c.epilogue == CUBLASLT_EPILOGUE_DGELU || c.epilogue == CUBLASLT_EPILOGUE_DGELU_BGRAD) {
      aux = random_bf16(size_t(c.m) * c.n, 4);
      const int64_t ld = c.m;
      const cudaDataType_t t = CUDA_R_16BF;
      cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof(aux));
      cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld, sizeof(ld));
      cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE, &t, sizeof(t));
    }
  }
  cublasLtMatrixLayout_t la, lb, ld;
  cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, c.trans_a ? c.k : c.m, c.trans_a ? c.m : c.k, c.trans_a ? c.k : c.m);
  cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, c.trans_b ? c.n : c.k, c.trans_b ? c.k : c.n, c.trans_b ? c.n : c.k);
  cublasLtMatrixLayoutCreate(&ld, c.d_type, c.m, c.n, c.m);
  cublasLtMatmulPreference_t pref;
  cublasLtMatmulPreferenceCreate(&pref);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &kWorkspaceBytes,
                                       sizeof(kWorkspaceBytes));
  cublasLtMatmulHeuristicResult_t results[16];
  int found = 0;
  const cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(handle, desc, la, lb, ld, ld, pref, 16, results, &found);
  const double gflop = 2e-9 * c.m * c.n * c.k;
  if (st != CUBLAS_STATUS_SUCCESS || found == 0) {
    std::printf("%-44s heuristic: status %d, %d found\n", c.name, int(st), found);
  } else {
    cudaEvent_t start, stop;
    cudaEventCreate(&start), cudaEventCreate(&stop);
    const float alpha = 1.f;
    float best = 1e30f;
    int best_i = -1;
    for (int i = 0; i < found; ++i) {
      auto run = [&] {
        return cublasLtMatmul(handle, desc, &alpha, a, la, b, lb, &c.beta, d, ld, d, ld, &results[i].algo, workspace,
                              kWorkspaceBytes, nullptr);
      };
      bool ok = true;
      for (int w = 0; w < 3 && ok; ++w) ok = run() == CUBLAS_STATUS_SUCCESS;
      if (!ok) continue;
      std::vector<float> ms(10);
      for (float& t : ms) {
        cudaEventRecord(start);
        run();
        cudaEventRecord(stop);
        cudaEventSynchronize(stop);
        cudaEventElapsedTime(&t, start, stop);
      }
      std::sort(ms.begin(), ms.end());
      if (ms[5] < best) best = ms[5], best_i = i;
    }
    if (best_i < 0)
      std::printf("%-44s %d candidates, none ran\n", c.name, found);
    else
      std::printf("%-44s %7.1f us  %6.0f TFLOP/s  (candidate %d of %d)\n", c.name, best * 1e3,
                  gflop / best, best_i, found);
    cudaEventDestroy(start), cudaEventDestroy(stop);
  }
  check(cudaGetLastError(), c.name);
  for (void* p : {a, b, d, bias, aux})
    if (p) cudaFree(p);
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(la), cublasLtMatrixLayoutDestroy(lb), cublasLtMatrixLayoutDestroy(ld);
  cublasLtMatmulDescDestroy(desc);
}

}  // namespace

int main() {
  constexpr long N = 16 * 1024, C = 768, F = 3072, QKV = 3 * 768;
  cublasLtCreate(&handle);
  check(cudaMalloc(&workspace, kWorkspaceBytes), "cudaMalloc(workspace)");
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  std::printf("%s, cuBLASLt %zu; N=%ld C=%ld F=%ld\n", prop.name, cublasLtGetVersion(), N, C, F);
  const auto bf = CUDA_R_16BF, f32 = CUDA_R_32F;
  const Case cases[] = {
      {"fc forward, plain (TN)", true, false, F, N, C, bf, CUBLASLT_EPILOGUE_DEFAULT, false, 0.f},
      {"fc forward, BIAS (TN)", true, false, F, N, C, bf, CUBLASLT_EPILOGUE_BIAS, false, 0.f},
      {"fc forward, GELU_AUX_BIAS (TN, ours)", true, false, F, N, C, bf, CUBLASLT_EPILOGUE_GELU_AUX_BIAS, false, 0.f},
      {"fc forward, GELU_AUX_BIAS (NN: weight transposed)", false, false, F, N, C, bf, CUBLASLT_EPILOGUE_GELU_AUX_BIAS,
       false, 0.f},
      {"fc forward, GELU_AUX, no bias (TN)", true, false, F, N, C, bf, CUBLASLT_EPILOGUE_GELU_AUX, false, 0.f},
      {"qkv forward, plain (TN)", true, false, QKV, N, C, bf, CUBLASLT_EPILOGUE_DEFAULT, false, 0.f},
      {"qkv forward, BIAS (TN, ours)", true, false, QKV, N, C, bf, CUBLASLT_EPILOGUE_BIAS, false, 0.f},
      {"out layer dX, plain (NN)", false, false, F, N, C, bf, CUBLASLT_EPILOGUE_DEFAULT, false, 0.f},
      {"out layer dX, plain (TN: weight transposed)", true, false, F, N, C, bf, CUBLASLT_EPILOGUE_DEFAULT, false, 0.f},
      {"out layer dX, DGELU (NN, ours)", false, false, F, N, C, bf, CUBLASLT_EPILOGUE_DGELU, false, 0.f},
      {"out layer dX, DGELU (TN: weight transposed)", true, false, F, N, C, bf, CUBLASLT_EPILOGUE_DGELU, false, 0.f},
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
  for (const Case& c : cases) run_case(c);
  cudaFree(workspace);
  cublasLtDestroy(handle);
}
