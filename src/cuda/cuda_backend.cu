#include "cuda/cuda_backend.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "backend/arg_check.h"
#include "cuda/cuda_check.cuh"
#include "cuda/peak_flops.h"
#include "kernels/adamw.cuh"
#include "kernels/argmax.cuh"
#include "kernels/decode_step.cuh"
#include "kernels/attention.cuh"
#include "kernels/attention_decode.cuh"
#include "kernels/cross_entropy.cuh"
#include "kernels/elementwise.cuh"
#include "kernels/embedding.cuh"
#include "kernels/gelu.cuh"
#include "kernels/layernorm.cuh"
#include "kernels/matmul.cuh"
#include "kernels/matvec.cuh"
#include "kernels/position.cuh"
#include "kernels/reduce.cuh"

namespace alibi {
namespace {

using bf16 = __nv_bfloat16;
using cuda::check_cuda;

std::string mib(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

// Device memory, zero-filled like the CPU backend's buffers (parameters and
// arenas may rely on it); freed with the Buffer.
class CudaBuffer final : public Buffer {
 public:
  explicit CudaBuffer(size_t bytes) : size_(bytes) {
    if (bytes == 0) return;
    const cudaError_t err = cudaMalloc(&data_, bytes);
    if (err != cudaSuccess) {
      cudaGetLastError();  // clear the error so later calls are not blamed
      size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      throw std::runtime_error("cuda: allocate " + std::to_string(bytes) + " bytes (" + mib(bytes) +
                               "): " + cudaGetErrorString(err) + "; the device has " +
                               mib(free_bytes) + " free of " + mib(total_bytes));
    }
    // cudaMemset runs on the legacy default stream, which does not order
    // against the backend's non-blocking stream: wait for it here (allocation
    // happens at setup, or when the scratch grows, never in steady state).
    check_cuda(cudaMemset(data_, 0, bytes), "allocate (zero fill)", {{"bytes", int64_t(bytes)}});
    check_cuda(cudaDeviceSynchronize(), "allocate (zero fill)", {{"bytes", int64_t(bytes)}});
  }
  ~CudaBuffer() override {
    if (data_) cudaFree(data_);  // errors here cannot be reported (destructor)
  }
  CudaBuffer(const CudaBuffer&) = delete;
  CudaBuffer& operator=(const CudaBuffer&) = delete;
  void* data() override { return data_; }
  size_t size() const override { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_;
};

// Scratch memory for ops that need temporary space (sort keys, partial
// sums, the attention backward's workspace). It only grows: after the first
// step has seen every shape, steady-state steps never allocate. One buffer
// serves every op because all work is ordered on one stream.
class Scratch {
 public:
  void* get(size_t bytes, cudaStream_t stream) {
    if (bytes > size_) {
      // Work queued earlier may still read the old buffer.
      check_cuda(cudaStreamSynchronize(stream), "scratch (grow)");
      buffer_.reset();
      buffer_ = std::make_unique<CudaBuffer>(bytes);
      size_ = bytes;
    }
    return buffer_ ? buffer_->data() : nullptr;
  }

 private:
  std::unique_ptr<CudaBuffer> buffer_;
  size_t size_ = 0;
};

// A recorded stream of ops, replayed on the stream it was recorded from.
class CudaGraph final : public OpGraph {
 public:
  CudaGraph(cudaGraph_t graph, cudaStream_t stream) : graph_(graph), stream_(stream) {
    if (const cudaError_t err = cudaGraphInstantiate(&exec_, graph_, 0); err != cudaSuccess) {
      cudaGraphDestroy(graph_);  // the destructor does not run for a throwing constructor
      check_cuda(err, "cuda graph instantiate");
    }
  }
  ~CudaGraph() override {
    if (exec_) cudaGraphExecDestroy(exec_);
    cudaGraphDestroy(graph_);
  }
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;
  void replay() override { check_cuda(cudaGraphLaunch(exec_, stream_), "cuda graph launch"); }

 private:
  cudaGraph_t graph_;
  cudaGraphExec_t exec_ = nullptr;
  cudaStream_t stream_;
};

// ---- argument checks: every failure names the op and the argument ----------

const ArgCheck checks(Device::CUDA, DType::BF16);

bf16* bf(const Tensor& t) { return static_cast<bf16*>(t.data); }
bf16* bf_or_null(const Tensor& t) { return t.empty() ? nullptr : bf(t); }
float* f32_or_null(const Tensor& t) { return t.empty() ? nullptr : t.f32(); }

cuda::AttentionDims dims_of(const AttentionShape& s) { return {s.B, s.T, s.H, s.D}; }

// The fused decode step's view of its arguments (device pointers); a model
// of more layers than it takes gets n_layer past the limit, which
// decode_step_suits turns down.
cuda::DecodeStepModel decode_step_model(const DecodeStepArgs& a) {
  cuda::DecodeStepModel m{};
  m.B = a.cache.B, m.H = a.cache.H, m.D = a.cache.D, m.L = a.cache.L, m.C = a.cache.H * a.cache.D;
  m.F = a.d_ff, m.V = a.wte.dim(0), m.n_layer = static_cast<int64_t>(a.layers.size());
  m.eps = a.layernorm_eps;
  m.wte = bf(a.wte), m.embed_ln_weight = bf_or_null(a.embed_ln_weight), m.embed_ln_bias = bf_or_null(a.embed_ln_bias);
  m.lnf_weight = bf(a.lnf_weight), m.lnf_bias = bf(a.lnf_bias);
  m.slopes = a.slopes.f32(), m.lengths = a.lengths.i32(), m.tokens = a.tokens.i32(), m.logits = bf(a.logits);
  m.greedy_limit = a.greedy_limit;
  for (int64_t l = 0; l < std::min<int64_t>(m.n_layer, cuda::kDecodeStepMaxLayers); ++l) {
    const DecodeStepLayer& w = a.layers[static_cast<size_t>(l)];
    m.layers[l] = {bf(w.ln1_weight), bf(w.ln1_bias), bf(w.qkv_weight), bf(w.qkv_bias), bf(w.proj_weight),
                   bf(w.proj_bias),  bf(w.ln2_weight), bf(w.ln2_bias), bf(w.fc_weight), bf(w.fc_bias),
                   bf(w.out_weight), bf(w.out_bias),  bf(w.keys),     bf(w.values)};
  }
  return m;
}

// Runs fn with the tensor's element pointer typed as float* or bf16*.
template <typename Fn>
void with_float_type(const Tensor& t, Fn&& fn) {
  if (t.dtype == DType::F32)
    fn(static_cast<float*>(t.data));
  else
    fn(static_cast<bf16*>(t.data));
}

// Pinned host memory and an event: the copy into it is queued on the
// stream, and only wait() blocks, until the event has passed.
class CudaHostCopy final : public HostCopy {
 public:
  CudaHostCopy(size_t bytes, cudaStream_t stream) : bytes_(bytes), stream_(stream) {
    check_cuda(cudaMallocHost(&host_, std::max<size_t>(bytes, 1)), "host copy (pinned memory)",
               {{"bytes", int64_t(bytes)}});
    if (const cudaError_t err = cudaEventCreateWithFlags(&arrived_, cudaEventDisableTiming); err != cudaSuccess) {
      cudaFreeHost(host_);  // the destructor does not run for a throwing constructor
      check_cuda(err, "host copy (event)");
    }
  }
  ~CudaHostCopy() override {
    cudaEventSynchronize(arrived_);  // a copy still queued writes into host_
    cudaEventDestroy(arrived_);
    cudaFreeHost(host_);
  }
  CudaHostCopy(const CudaHostCopy&) = delete;
  CudaHostCopy& operator=(const CudaHostCopy&) = delete;
  void start(const Tensor& src) override {
    checks.on_device(src, "host copy", "src");
    check_fits(src, bytes_);
    check_cuda(cudaMemcpyAsync(host_, src.data, src.nbytes(), cudaMemcpyDeviceToHost, stream_), "host copy",
               {{"bytes", int64_t(src.nbytes())}});
    check_cuda(cudaEventRecord(arrived_, stream_), "host copy (event)");
  }
  const void* wait() override {
    check_cuda(cudaEventSynchronize(arrived_), "host copy (wait)");
    return host_;
  }

 private:
  void* host_ = nullptr;
  size_t bytes_;
  cudaStream_t stream_;
  cudaEvent_t arrived_ = nullptr;
};

// ALIBI_GEMM_SM90=1 (2: in CTA pairs): our own product for the MLP's
// GELU-fused products on Hopper (docs/environment.md), read once, at the
// backend's creation.
cuda::GeluProducts gelu_products_from_environment() {
  const char* v = std::getenv("ALIBI_GEMM_SM90");
  const std::string choice = v != nullptr ? v : "";
  if (choice == "1") return cuda::GeluProducts::Sm90;
  if (choice == "2") return cuda::GeluProducts::Sm90Pairs;
  return cuda::GeluProducts::Cublaslt;
}

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, CudaBackendOptions options) : device_(device), options_(options) {
    check_cuda(cudaSetDevice(device), "set device", {{"device", device}});
    cudaDeviceProp props{};
    check_cuda(cudaGetDeviceProperties(&props, device), "device properties", {{"device", device}});
    int clock_khz = 0;
    check_cuda(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, device), "clock rate");
    gpu_ = {props.name, props.major, props.minor, props.multiProcessorCount, clock_khz * 1e3};
    peak_flops_ = cuda::peak_bf16_flops(gpu_);
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "stream create");
    matmul_ = std::make_unique<cuda::MatmulContext>(/*tune_algorithms=*/!options_.deterministic,
                                                    cuda::kMatmulWorkspaceBytes, gelu_products_from_environment());
  }
  ~CudaBackend() override {
    cudaStreamSynchronize(stream_);
    matmul_.reset();
    cudaStreamDestroy(stream_);
  }
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  Device device() const override { return Device::CUDA; }
  std::string name() const override { return "cuda:" + std::to_string(device_) + " " + gpu_.name; }
  DType activation_dtype() const override { return DType::BF16; }
  DType grad_dtype() const override { return DType::F32; }
  double peak_flops() const override { return peak_flops_; }
  void* native_stream() const override { return stream_; }
  size_t free_memory() const override {
    size_t free = 0, total = 0;
    cuda_memory_info(&free, &total);
    // Headroom for cuBLASLt's algorithms and the backend's growing scratch
    // (attention backward, LayerNorm partials) that the first step allocates.
    const size_t headroom = size_t{512} << 20;
    return free > headroom ? free - headroom : 1;
  }

  // ---- memory ----------------------------------------------------------------
  std::unique_ptr<Buffer> allocate(size_t bytes) override { return std::make_unique<CudaBuffer>(bytes); }

  void upload(const Tensor& dst, const void* host_src) override {
    checks.on_device(dst, "upload", "dst");
    if (!dst.nbytes()) return;
    check_cuda(cudaMemcpyAsync(dst.data, host_src, dst.nbytes(), cudaMemcpyHostToDevice, stream_), "upload",
               {{"bytes", int64_t(dst.nbytes())}});
    check_cuda(cudaStreamSynchronize(stream_), "upload (sync)");
  }
  void download(void* host_dst, const Tensor& src) override {
    checks.on_device(src, "download", "src");
    if (!src.nbytes()) return;
    check_cuda(cudaMemcpyAsync(host_dst, src.data, src.nbytes(), cudaMemcpyDeviceToHost, stream_),
               "download", {{"bytes", int64_t(src.nbytes())}});
    check_cuda(cudaStreamSynchronize(stream_), "download (sync)");
  }
  void fill_zero(const Tensor& t) override {
    checks.on_device(t, "fill_zero", "t");
    if (t.nbytes())
      check_cuda(cudaMemsetAsync(t.data, 0, t.nbytes(), stream_), "fill_zero", {{"bytes", int64_t(t.nbytes())}});
  }
  void copy(const Tensor& dst, const Tensor& src) override {
    checks.on_device(dst, "copy", "dst");
    checks.on_device(src, "copy", "src");
    if (dst.numel() != src.numel()) checks.fail("copy", "cannot copy " + src.describe() + " into " + dst.describe());
    const int64_t n = src.numel();
    if (dst.dtype == src.dtype) {
      if (dst.nbytes() && dst.data != src.data)
        check_cuda(cudaMemcpyAsync(dst.data, src.data, dst.nbytes(), cudaMemcpyDeviceToDevice, stream_), "copy",
                   {{"n", n}});
    } else if (dst.dtype == DType::BF16 && src.dtype == DType::F32) {
      cuda::convert(bf(dst), src.f32(), n, stream_);
    } else if (dst.dtype == DType::F32 && src.dtype == DType::BF16) {
      cuda::convert(dst.f32(), bf(src), n, stream_);
    } else {
      checks.fail("copy", "no conversion from " + src.describe() + " to " + dst.describe());
    }
  }
  void synchronize() override { check_cuda(cudaStreamSynchronize(stream_), "synchronize"); }
  std::unique_ptr<HostCopy> make_host_copy(size_t bytes) override {
    return std::make_unique<CudaHostCopy>(bytes, stream_);
  }

  // ---- embedding -------------------------------------------------------------
  void embedding_forward(const Tensor& out, const Tensor& tokens, const Tensor& wte) override {
    const auto [N, V, C] = checks.embedding_forward(out, tokens, wte);
    cuda::embedding_forward(bf(out), tokens.i32(), bf(wte), N, V, C, stream_);
  }
  void embedding_backward(const Tensor& dwte, const Tensor& dout, const Tensor& tokens) override {
    const auto [N, V, C] = checks.embedding_backward(dwte, dout, tokens);
    const size_t bytes = cuda::embedding_backward_workspace_bytes(N, V);
    cuda::embedding_backward(dwte.f32(), bf(dout), tokens.i32(), N, V, C, scratch_.get(bytes, stream_), bytes,
                             stream_);
  }

  // ---- positions -------------------------------------------------------------
  void learned_position_forward(const Tensor& x, const Tensor& wpe) override {
    const SequenceDims s = checks.learned_position_forward(x, wpe);
    cuda::learned_position_forward(bf(x), bf(wpe), s.B, s.T, s.C, stream_);
  }
  void learned_position_backward(const Tensor& dwpe, const Tensor& dout,
                                 GradWrite write = GradWrite::Accumulate) override {
    const SequenceDims s = checks.learned_position_backward(dwpe, dout);
    const bool accumulate = write == GradWrite::Accumulate;
    if (!accumulate) fill_zero(dwpe.range(s.T * s.C, dwpe.numel()));  // the table's rows past T
    cuda::learned_position_backward(dwpe.f32(), bf(dout), s.B, s.T, s.C, stream_, accumulate);
  }
  void sinusoidal_position_forward(const Tensor& x) override {
    const SequenceDims s = checks.sinusoidal_position_forward(x);
    cuda::sinusoidal_position_forward(bf(x), s.B, s.T, s.C, stream_);
  }
  void rotary_forward(const Tensor& qkv, float base) override {
    checks.rotary(qkv, "rotary_forward");
    cuda::rotary_forward(bf(qkv), qkv.dim(0), qkv.dim(1), qkv.dim(3), qkv.dim(4), base, stream_);
  }
  void rotary_backward(const Tensor& dqkv, float base) override {
    checks.rotary(dqkv, "rotary_backward");
    cuda::rotary_backward(bf(dqkv), dqkv.dim(0), dqkv.dim(1), dqkv.dim(3), dqkv.dim(4), base, stream_);
  }

  // ---- layernorm -------------------------------------------------------------
  void layernorm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& inp,
                         const Tensor& weight, const Tensor& bias, float eps) override {
    const auto [N, C] = checks.layernorm_forward(out, mean, rstd, inp, weight, bias);
    cuda::layernorm_forward(bf(out), mean.f32(), rstd.f32(), bf(inp), bf(weight), bf(bias), N, C, eps, stream_);
  }
  void layernorm_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dbias, const Tensor& dout,
                          const Tensor& inp, const Tensor& weight, const Tensor& mean,
                          const Tensor& rstd, bool add_to_dinp = false, const Tensor& dinp_sums = Tensor{},
                          GradWrite write = GradWrite::Accumulate) override {
    const auto [N, C] =
        checks.layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, add_to_dinp, dinp_sums);
    const size_t bytes = cuda::layernorm_backward_workspace_bytes(N, C);
    cuda::layernorm_backward(bf(dinp), dweight.f32(), dbias.f32(), bf(dout), bf(inp), bf(weight), mean.f32(),
                             rstd.f32(), N, C, scratch_.get(bytes, stream_), bytes, stream_, add_to_dinp,
                             f32_or_null(dinp_sums), write == GradWrite::Accumulate);
  }

  // ---- matmul ----------------------------------------------------------------
  void matmul_forward(const Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor& bias) override {
    const auto [N, C, OC] = checks.matmul_forward(out, inp, weight, bias);
    cuda::matmul_forward(*matmul_, bf(out), bf(inp), bf(weight), bf_or_null(bias), N, C, OC, stream_);
  }
  void layernorm_matmul_forward(const Tensor& out, const LayerNormArgs& norm, const Tensor& weight,
                                const Tensor& bias) override {
    const MatmulDims dims = checks.matmul_forward(out, norm.out, weight, bias);
    if (!normed_matvec(out, Tensor(), norm, weight, bias, dims, cuda::MatvecEpilogue::Bias))
      Backend::layernorm_matmul_forward(out, norm, weight, bias);
  }
  void layernorm_matmul_gelu_forward(const Tensor& out, const Tensor& pre, const LayerNormArgs& norm,
                                     const Tensor& weight, const Tensor& bias) override {
    const MatmulDims dims = checks.matmul_gelu_forward(out, pre, norm.out, weight, bias);
    if (!normed_matvec(out, pre, norm, weight, bias, dims, cuda::MatvecEpilogue::Gelu))
      Backend::layernorm_matmul_gelu_forward(out, pre, norm, weight, bias);
  }
  void matmul_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dbias, const Tensor& dout,
                       const Tensor& inp, const Tensor& weight, GradWrite write = GradWrite::Accumulate) override {
    const auto [N, C, OC] = checks.matmul_backward(dinp, dweight, dbias, dout, inp, weight);
    cuda::matmul_backward(*matmul_, bf_or_null(dinp), dweight.f32(), f32_or_null(dbias), bf(dout), bf(inp),
                          bf(weight), N, C, OC, stream_, write == GradWrite::Accumulate);
  }

  void matmul_residual_forward(const Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor& bias,
                               const Tensor& residual) override {
    const auto [N, C, OC] = checks.matmul_residual_forward(out, inp, weight, bias, residual);
    cuda::matmul_residual_forward(*matmul_, bf(out), bf(inp), bf(weight), bf_or_null(bias), bf(residual), N, C, OC,
                                  stream_);
  }
  void matmul_gelu_forward(const Tensor& out, const Tensor& pre, const Tensor& inp, const Tensor& weight,
                           const Tensor& bias) override {
    const auto [N, C, OC] = checks.matmul_gelu_forward(out, pre, inp, weight, bias);
    cuda::matmul_gelu_forward(*matmul_, bf(out), bf(pre), bf(inp), bf(weight), bf_or_null(bias), N, C, OC, stream_);
  }
  void matmul_gelu_backward(const Tensor& dpre, const Tensor& dweight, const Tensor& dbias, const Tensor& dout,
                            const Tensor& inp, const Tensor& pre, const Tensor& weight,
                            const Tensor& dpre_sums = Tensor{}, GradWrite write = GradWrite::Accumulate) override {
    const auto [N, C, OC] = checks.matmul_gelu_backward(dpre, dweight, dbias, dout, inp, pre, weight, dpre_sums);
    cuda::matmul_gelu_backward(*matmul_, bf(dpre), bf(pre), dweight.f32(), f32_or_null(dbias), f32_or_null(dpre_sums),
                               bf(dout), bf(inp), bf(weight), N, C, OC, stream_, write == GradWrite::Accumulate);
  }

  // ---- attention ---------------------------------------------------------------
  void attention_forward(const Tensor& out, const Tensor& lse, const Tensor& qkv, const Tensor& slopes,
                         AttentionShape s) override {
    checks.attention_forward(out, lse, qkv, slopes, s);
    // Only without a backward to follow: that one recomputes every key.
    void* key_skip = nullptr;
    if (lse.empty() && options_.skip_negligible_keys)
      key_skip = scratch_.get(cuda::attention_key_skip_workspace_bytes(dims_of(s)), stream_);
    cuda::attention_forward_using(forward_kernel(), bf(out), f32_or_null(lse), bf(qkv), slopes.f32(), dims_of(s),
                                  stream_, key_skip, tuning_);
  }
  void kv_cache_write(const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv, const Tensor& starts,
                      int64_t T, KvCacheShape s) override {
    checks.kv_cache_write(k_cache, v_cache, qkv, starts, T, s);
    cuda::kv_cache_write(bf(k_cache), bf(v_cache), bf(qkv), starts.i32(), T, {s.B, s.H, s.L, s.D}, stream_);
  }
  void attention_decode(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                        const Tensor& lengths, const Tensor& slopes, KvCacheShape s) override {
    checks.attention_decode(out, qkv, k_cache, v_cache, lengths, slopes, s);
    const cuda::KvCacheDims dims{s.B, s.H, s.L, s.D};
    const size_t bytes = cuda::attention_decode_workspace_bytes(dims);
    int* counters = static_cast<int*>(decode_counters_.get(sizeof(int) * static_cast<size_t>(s.B * s.H), stream_));
    cuda::attention_decode(bf(out), bf(qkv), bf(k_cache), bf(v_cache), lengths.i32(), slopes.f32(), dims,
                           scratch_.get(bytes, stream_), bytes, counters, stream_);
  }
  void kv_cache_advance(const Tensor& lengths, int64_t added) override {
    checks.kv_cache_advance(lengths, added);
    cuda::kv_cache_advance(lengths.i32(), lengths.numel(), added, stream_);
  }

  bool decode_step(const DecodeStepArgs& a) override {
    checks.decode_step(a);
    cuda::DecodeStepModel m = decode_step_model(a);
    if (!cuda::decode_step_suits(m)) return false;
    const size_t bytes = cuda::decode_step_workspace_bytes(m);
    cuda::decode_step(m, decode_step_workspace_.get(bytes, stream_), bytes, stream_);
    return true;
  }
  size_t attention_workspace_bytes(AttentionShape s) const override {
    return cuda::attention_backward_workspace_bytes(dims_of(s));
  }
  void reserve_workspace(size_t bytes) override { scratch_.get(bytes, stream_); }
  void attention_backward(const Tensor& dqkv, const Tensor& dout, const Tensor& qkv, const Tensor& out,
                          const Tensor& lse, const Tensor& slopes, AttentionShape s,
                          const Tensor& dqkv_sums = Tensor{}, GradWrite write = GradWrite::Accumulate) override {
    checks.attention_backward(dqkv, dout, qkv, out, lse, slopes, s, dqkv_sums);
    const size_t bytes = cuda::attention_backward_workspace_bytes(dims_of(s));
    cuda::attention_backward_using(backward_kernel(dims_of(s)), bf(dqkv), bf(dout), bf(qkv), bf(out), lse.f32(),
                                   slopes.f32(), dims_of(s), scratch_.get(bytes, stream_), stream_, tuning_,
                                   f32_or_null(dqkv_sums), write == GradWrite::Accumulate);
  }
  // runtime.attention_kernel and runtime.attention_backward (with runtime.deterministic).
  cuda::AttentionForwardKernel forward_kernel() const {
    switch (options_.attention_forward) {
      case AttentionKernelChoice::Portable:
        return cuda::AttentionForwardKernel::portable;
      case AttentionKernelChoice::Sm90:
        return cuda::AttentionForwardKernel::sm90;
      default:
        return cuda::AttentionForwardKernel::automatic;
    }
  }
  cuda::AttentionBackwardKernel backward_kernel(const cuda::AttentionDims& dims) const {
    switch (options_.attention_backward) {
      case AttentionKernelChoice::Portable:
        return cuda::AttentionBackwardKernel::portable;
      case AttentionKernelChoice::Sm90:
        return options_.deterministic ? cuda::AttentionBackwardKernel::sm90_deterministic
                                      : cuda::AttentionBackwardKernel::sm90;
      default:
        return cuda::attention_backward_choice(dims, options_.deterministic);
    }
  }

  // ---- elementwise (f32 or bf16) ---------------------------------------------
  void gelu_forward(const Tensor& out, const Tensor& inp) override {
    checks.gelu_forward(out, inp);
    with_float_type(inp, [&](auto* x) {
      cuda::gelu_forward(static_cast<decltype(x)>(out.data), x, inp.numel(), stream_);
    });
  }
  void gelu_backward(const Tensor& dinp, const Tensor& inp, const Tensor& dout) override {
    checks.gelu_backward(dinp, inp, dout);
    with_float_type(inp, [&](auto* x) {
      using T = std::remove_pointer_t<decltype(x)>;
      cuda::gelu_backward(static_cast<T*>(dinp.data), x, static_cast<T*>(dout.data), inp.numel(), stream_);
    });
  }
  void add(const Tensor& out, const Tensor& a, const Tensor& b) override {
    checks.add(out, a, b);
    with_float_type(a, [&](auto* pa) {
      using T = std::remove_pointer_t<decltype(pa)>;
      cuda::add(static_cast<T*>(out.data), pa, static_cast<T*>(b.data), a.numel(), stream_);
    });
  }
  void scale(const Tensor& x, float factor) override {
    checks.scale(x);
    with_float_type(x, [&](auto* p) { cuda::scale(p, x.numel(), factor, stream_); });
  }
  void dropout_forward(const Tensor& x, float p, uint64_t seed) override {
    checks.dropout(x, p, "dropout_forward");
    with_float_type(x, [&](auto* px) { cuda::dropout(px, x.numel(), p, seed, stream_); });
  }
  void dropout_backward(const Tensor& dx, float p, uint64_t seed) override {
    // d(x * mask * scale)/dx = mask * scale: the forward applied to the gradient.
    checks.dropout(dx, p, "dropout_backward");
    with_float_type(dx, [&](auto* px) { cuda::dropout(px, dx.numel(), p, seed, stream_); });
  }

  // ---- loss ------------------------------------------------------------------
  void cross_entropy(const Tensor& losses, const Tensor& logits, const Tensor& targets, bool compute_grad,
                     float dloss_scale) override {
    const auto [N, V] = checks.cross_entropy(losses, logits, targets);
    cuda::cross_entropy(losses.f32(), bf(logits), targets.i32(), N, V, compute_grad, dloss_scale, stream_);
  }

  // ---- recording ops -----------------------------------------------------------
  bool can_capture() const override { return true; }
  void begin_capture() override {
    // Thread-local: another thread's unrelated CUDA calls neither join the
    // recording nor break it.
    check_cuda(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "begin capture");
  }
  std::unique_ptr<OpGraph> end_capture() override {
    cudaGraph_t graph = nullptr;
    check_cuda(cudaStreamEndCapture(stream_, &graph), "end capture");
    return std::make_unique<CudaGraph>(graph, stream_);
  }

  // ---- generation: greedy choice ------------------------------------------------
  void argmax(const Tensor& tokens, const Tensor& logits, int64_t limit) override {
    const auto [N, V] = checks.argmax(tokens, logits, limit);
    cuda::argmax(tokens.i32(), bf(logits), N, V, limit, stream_);
  }

  // ---- optimizer -------------------------------------------------------------
  using Backend::sum_of_squares;
  void sum_of_squares(const Tensor& out, const Tensor& t) override {
    checks.sum_of_squares(out, t);
    const int64_t n = t.numel();
    const size_t bytes = cuda::sum_of_squares_workspace_bytes(n);
    void* workspace = scratch_.get(bytes, stream_);
    with_float_type(t, [&](auto* p) { cuda::sum_of_squares(out.f32(), p, n, workspace, bytes, stream_); });
  }
  void adamw_update(const AdamWArgs& a) override {
    const std::vector<DecayRun> runs = checks.adamw_update(a);
    // Bias corrections in double, as the CPU computes them.
    const cuda::AdamWHyper hp{a.lr,
                              a.beta1,
                              a.beta2,
                              a.eps,
                              a.grad_scale,
                              static_cast<float>(1.0 - std::pow(a.beta1, static_cast<double>(a.step))),
                              static_cast<float>(1.0 - std::pow(a.beta2, static_cast<double>(a.step))),
                              a.grad_norm_sq.empty() ? nullptr : a.grad_norm_sq.f32(),
                              a.max_grad_norm};
    cuda::adamw_update(a.param.f32(), bf_or_null(a.param_working), a.grad.f32(), a.m.f32(), a.v.f32(),
                       a.param.numel(), hp, runs.data(), static_cast<int64_t>(runs.size()), stream_);
  }

 private:
  // The LayerNorm folded into a matrix-vector product (kernels/matvec.cuh),
  // where the shapes suit one; false leaves the two ops to the caller.
  bool normed_matvec(const Tensor& out, const Tensor& pre, const LayerNormArgs& norm, const Tensor& weight,
                     const Tensor& bias, MatmulDims dims, cuda::MatvecEpilogue epilogue) {
    checks.layernorm_forward(norm.out, norm.mean, norm.rstd, norm.inp, norm.weight, norm.bias);
    const cuda::MatvecNorm folded{bf(norm.weight), bf(norm.bias), norm.eps, bf(norm.out), norm.mean.f32(),
                                  norm.rstd.f32()};
    const cuda::MatvecArgs m{bf(out), bf(norm.inp), bf(weight), bf_or_null(bias), dims.N, dims.C, dims.OC,
                             epilogue, nullptr, bf_or_null(pre), &folded};
    if (!cuda::matvec_suits(m)) return false;
    cuda::matvec(m, stream_);
    return true;
  }

  int device_;
  CudaBackendOptions options_;
  // The attention kernels' measuring switches, read once from the environment.
  cuda::AttentionTuning tuning_ = cuda::AttentionTuning::from_environment();
  cuda::GpuSpec gpu_;
  double peak_flops_ = 0;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<cuda::MatmulContext> matmul_;
  Scratch scratch_;
  Scratch decode_step_workspace_;  // decode_step's, its counters zero between launches (CudaBuffer starts zeroed)
  Scratch decode_counters_;  // attention_decode's, zero between launches (CudaBuffer starts zeroed)
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int device, CudaBackendOptions options) {
  std::string why;
  if (!cuda_device_available(&why)) throw std::runtime_error("cuda backend: " + why);
  return std::make_unique<CudaBackend>(device, options);
}

bool cuda_device_available(std::string* why_not) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear it: the answer is "no", not an error state
    if (why_not) *why_not = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(err);
    return false;
  }
  if (count == 0) {
    if (why_not) *why_not = "no CUDA device is visible";
    return false;
  }
  return true;
}

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

void cuda_memory_info(size_t* free_bytes, size_t* total_bytes) {
  check_cuda(cudaMemGetInfo(free_bytes, total_bytes), "memory info");
}

}  // namespace alibi
