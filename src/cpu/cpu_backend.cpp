#include "cpu/cpu_backend.h"

#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/arg_check.h"
#include "backend/grad_clip.h"
#include "cpu/adamw.h"
#include "cpu/argmax.h"
#include "cpu/attention.h"
#include "cpu/attention_decode.h"
#include "cpu/cross_entropy.h"
#include "cpu/elementwise.h"
#include "cpu/embedding.h"
#include "cpu/gelu.h"
#include "cpu/layernorm.h"
#include "cpu/matmul.h"
#include "cpu/position.h"

namespace alibi {
namespace {

// 64-byte aligned (a cache line, a full AVX-512 vector), zero-initialized host memory.
class HostBuffer final : public Buffer {
 public:
  explicit HostBuffer(size_t bytes) : size_(bytes) {
    constexpr size_t kAlign = 64;
    const size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
    data_ = rounded ? std::aligned_alloc(kAlign, rounded) : nullptr;
    if (rounded && !data_) throw std::bad_alloc();
    if (data_) std::memset(data_, 0, rounded);
  }
  ~HostBuffer() override { std::free(data_); }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  void* data() override { return data_; }
  size_t size() const override { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_;
};

// ---- argument checks: every failure names the op and the argument ----------

const ArgCheck checks(Device::CPU, DType::F32);

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : threads_(threads > 0 ? threads : omp_get_num_procs()) {}

  Device device() const override { return Device::CPU; }
  std::string name() const override {
    return "cpu (" + std::to_string(threads_) + (threads_ == 1 ? " thread)" : " threads)");
  }
  DType activation_dtype() const override { return DType::F32; }
  DType grad_dtype() const override { return DType::F32; }

  // ---- memory ----------------------------------------------------------------
  std::unique_ptr<Buffer> allocate(size_t bytes) override {
    return std::make_unique<HostBuffer>(bytes);
  }
  void upload(const Tensor& dst, const void* host_src) override {
    if (dst.nbytes()) std::memcpy(dst.data, host_src, dst.nbytes());
  }
  void download(void* host_dst, const Tensor& src) override {
    if (src.nbytes()) std::memcpy(host_dst, src.data, src.nbytes());
  }
  void fill_zero(const Tensor& t) override {
    if (t.nbytes()) std::memset(t.data, 0, t.nbytes());
  }
  // GradWrite::Overwrite as adding to zeros (the kernels all add): the same bits.
  void zero_to_overwrite(GradWrite write, std::initializer_list<Tensor> grads) {
    if (write == GradWrite::Overwrite)
      for (const Tensor& t : grads)
        if (!t.empty()) fill_zero(t);
  }
  void copy(const Tensor& dst, const Tensor& src) override {
    if (dst.dtype != src.dtype || dst.numel() != src.numel())
      checks.fail("copy", "cannot copy " + src.describe() + " into " + dst.describe());
    if (dst.nbytes() && dst.data != src.data) std::memmove(dst.data, src.data, dst.nbytes());
  }
  void synchronize() override {}

  // ---- embedding -------------------------------------------------------------
  void embedding_forward(const Tensor& out, const Tensor& tokens, const Tensor& wte) override {
    const auto [N, V, C] = checks.embedding_forward(out, tokens, wte);
    with_threads([&, N = N, V = V, C = C] { cpu::embedding_forward(out.f32(), tokens.i32(), wte.f32(), N, V, C); });
  }
  void embedding_backward(const Tensor& dwte, const Tensor& dout, const Tensor& tokens) override {
    const auto [N, V, C] = checks.embedding_backward(dwte, dout, tokens);
    with_threads([&, N = N, V = V, C = C] { cpu::embedding_backward(dwte.f32(), dout.f32(), tokens.i32(), N, V, C); });
  }

  // ---- positions -------------------------------------------------------------
  void learned_position_forward(const Tensor& x, const Tensor& wpe) override {
    const SequenceDims s = checks.learned_position_forward(x, wpe);
    with_threads([&] { cpu::learned_position_forward(x.f32(), wpe.f32(), s.B, s.T, s.C); });
  }
  void learned_position_backward(const Tensor& dwpe, const Tensor& dout,
                                 GradWrite write = GradWrite::Accumulate) override {
    const SequenceDims s = checks.learned_position_backward(dwpe, dout);
    zero_to_overwrite(write, {dwpe});
    with_threads([&] { cpu::learned_position_backward(dwpe.f32(), dout.f32(), s.B, s.T, s.C); });
  }
  void sinusoidal_position_forward(const Tensor& x) override {
    const SequenceDims s = checks.sinusoidal_position_forward(x);
    with_threads([&] { cpu::sinusoidal_position_forward(x.f32(), s.B, s.T, s.C); });
  }
  void rotary_forward(const Tensor& qkv, float base) override {
    rotary("rotary_forward", qkv, base, &cpu::rotary_forward<float>);
  }
  void rotary_backward(const Tensor& dqkv, float base) override {
    rotary("rotary_backward", dqkv, base, &cpu::rotary_backward<float>);
  }

  // ---- layernorm -------------------------------------------------------------
  void layernorm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd,
                         const Tensor& inp, const Tensor& weight, const Tensor& bias,
                         float eps) override {
    const auto [N, C] = checks.layernorm_forward(out, mean, rstd, inp, weight, bias);
    with_threads([&, N = N, C = C] {  // copies: see matmul_forward
      cpu::layernorm_forward(out.f32(), mean.f32(), rstd.f32(), inp.f32(), weight.f32(),
                             bias.f32(), N, C, eps);
    });
  }
  void layernorm_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dbias,
                          const Tensor& dout, const Tensor& inp, const Tensor& weight,
                          const Tensor& mean, const Tensor& rstd, bool add_to_dinp = false,
                          const Tensor& dinp_sums = Tensor{}, GradWrite write = GradWrite::Accumulate) override {
    const auto [N, C] =
        checks.layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, add_to_dinp, dinp_sums);
    zero_to_overwrite(write, {dweight, dbias, dinp_sums});
    with_threads([&, N = N, C = C] {
      cpu::layernorm_backward(dinp.f32(), dweight.f32(), dbias.f32(), dout.f32(), inp.f32(),
                              weight.f32(), mean.f32(), rstd.f32(), N, C, add_to_dinp);
      // The same sums as matmul_backward's bias gradient would take of dinp.
      if (!dinp_sums.empty()) cpu::add_column_sums(dinp_sums.f32(), dinp.f32(), N, C);
    });
  }

  // ---- matmul ----------------------------------------------------------------
  void matmul_forward(const Tensor& out, const Tensor& inp, const Tensor& weight,
                      const Tensor& bias) override {
    const auto [N, C, OC] = checks.matmul_forward(out, inp, weight, bias);
    // Structured bindings captured as copies: clang before 16 cannot capture them by reference.
    with_threads([&, N = N, C = C, OC = OC] {
      cpu::matmul_forward(out.f32(), inp.f32(), weight.f32(), bias.empty() ? nullptr : bias.f32(),
                          N, C, OC);
    });
  }
  void matmul_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dbias, const Tensor& dout,
                       const Tensor& inp, const Tensor& weight, GradWrite write = GradWrite::Accumulate) override {
    const auto [N, C, OC] = checks.matmul_backward(dinp, dweight, dbias, dout, inp, weight);
    zero_to_overwrite(write, {dweight, dbias});
    with_threads([&, N = N, C = C, OC = OC] {  // copies, as in matmul_forward
      cpu::matmul_backward(dinp.empty() ? nullptr : dinp.f32(), dweight.f32(),
                           dbias.empty() ? nullptr : dbias.f32(), dout.f32(), inp.f32(),
                           weight.f32(), N, C, OC);
    });
  }
  void matmul_gelu_backward(const Tensor& dpre, const Tensor& dweight, const Tensor& dbias, const Tensor& dout,
                            const Tensor& inp, const Tensor& pre, const Tensor& weight,
                            const Tensor& dpre_sums = Tensor{}, GradWrite write = GradWrite::Accumulate) override {
    const auto [N, C, OC] = checks.matmul_gelu_backward(dpre, dweight, dbias, dout, inp, pre, weight, dpre_sums);
    zero_to_overwrite(write, {dpre_sums});
    matmul_backward(dpre, dweight, dbias, dout, inp, weight, write);
    gelu_backward(dpre, pre, dpre);
    // The same sums as matmul_backward's bias gradient would take of dpre.
    if (!dpre_sums.empty()) cpu::add_column_sums(dpre_sums.f32(), dpre.f32(), N, C);
  }

  // ---- attention ---------------------------------------------------------------
  void attention_forward(const Tensor& out, const Tensor& lse, const Tensor& qkv,
                         const Tensor& slopes, AttentionShape s) override {
    checks.attention_forward(out, lse, qkv, slopes, s);
    with_threads([&] {
      cpu::attention_forward(out.f32(), lse.empty() ? nullptr : lse.f32(), qkv.f32(),
                             slopes.f32(), s.B, s.T, s.H, s.D);
    });
  }
  void kv_cache_write(const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv, const Tensor& starts,
                      int64_t T, KvCacheShape s) override {
    const char* op = "kv_cache_write";
    checks.kv_cache_write(k_cache, v_cache, qkv, starts, T, s);
    for (int64_t b = 0; b < s.B; ++b)
      if (starts.i32()[b] < 0 || starts.i32()[b] + T > s.L)
        checks.fail(op, "row " + std::to_string(b) + ": positions " + std::to_string(starts.i32()[b]) + " + " +
                            std::to_string(T) + " do not fit a cache of " + std::to_string(s.L));
    cpu::kv_cache_write(k_cache.f32(), v_cache.f32(), qkv.f32(), starts.i32(), s.B, T, s.H, s.L, s.D);
  }
  void attention_decode(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                        const Tensor& lengths, const Tensor& slopes, KvCacheShape s) override {
    const char* op = "attention_decode";
    checks.attention_decode(out, qkv, k_cache, v_cache, lengths, slopes, s);
    for (int64_t b = 0; b < s.B; ++b)
      if (lengths.i32()[b] < 1 || lengths.i32()[b] > s.L)
        checks.fail(op, "row " + std::to_string(b) + ": length " + std::to_string(lengths.i32()[b]) +
                            " outside [1, " + std::to_string(s.L) + "]");
    std::vector<int32_t> newest(lengths.i32(), lengths.i32() + s.B);
    for (int32_t& position : newest) position -= 1;
    cpu::kv_cache_write(k_cache.f32(), v_cache.f32(), qkv.f32(), newest.data(), s.B, 1, s.H, s.L, s.D);
    with_threads([&] {
      cpu::attention_decode(out.f32(), qkv.f32(), k_cache.f32(), v_cache.f32(), lengths.i32(), slopes.f32(), s.B,
                            s.H, s.L, s.D);
    });
  }
  void kv_cache_advance(const Tensor& lengths, int64_t added) override {
    checks.kv_cache_advance(lengths, added);
    cpu::kv_cache_advance(lengths.i32(), lengths.numel(), added);
  }
  void attention_backward(const Tensor& dqkv, const Tensor& dout, const Tensor& qkv, const Tensor& out,
                          const Tensor& lse, const Tensor& slopes, AttentionShape s,
                          const Tensor& dqkv_sums = Tensor{}, GradWrite write = GradWrite::Accumulate) override {
    checks.attention_backward(dqkv, dout, qkv, out, lse, slopes, s, dqkv_sums);
    zero_to_overwrite(write, {dqkv_sums});
    with_threads([&] {
      cpu::attention_backward(dqkv.f32(), dout.f32(), qkv.f32(), out.f32(), lse.f32(),
                              slopes.f32(), s.B, s.T, s.H, s.D);
      if (dqkv_sums.empty()) return;
      // q: dq's column sums (the q third of each [3C] row); k: 0; v: dout's.
      const int64_t N = s.B * s.T, C = s.H * s.D;
      cpu::add_column_sums(dqkv_sums.f32(), dqkv.f32(), N, C, 3 * C);
      cpu::add_column_sums(dqkv_sums.f32() + 2 * C, dout.f32(), N, C);
    });
  }

  // ---- elementwise -----------------------------------------------------------
  void gelu_forward(const Tensor& out, const Tensor& inp) override {
    checks.gelu_forward(out, inp);
    with_threads([&] { cpu::gelu_forward(out.f32(), inp.f32(), inp.numel()); });
  }
  void gelu_backward(const Tensor& dinp, const Tensor& inp, const Tensor& dout) override {
    checks.gelu_backward(dinp, inp, dout);
    with_threads([&] { cpu::gelu_backward(dinp.f32(), inp.f32(), dout.f32(), inp.numel()); });
  }
  void add(const Tensor& out, const Tensor& a, const Tensor& b) override {
    checks.add(out, a, b);
    with_threads([&] { cpu::add(out.f32(), a.f32(), b.f32(), a.numel()); });
  }
  void scale(const Tensor& x, float factor) override {
    checks.scale(x);
    with_threads([&] { cpu::scale(x.f32(), x.numel(), factor); });
  }
  void dropout_forward(const Tensor& x, float p, uint64_t seed) override {
    checks.dropout(x, p, "dropout_forward");
    with_threads([&] { cpu::dropout_forward(x.f32(), x.numel(), p, seed); });
  }
  void dropout_backward(const Tensor& dx, float p, uint64_t seed) override {
    checks.dropout(dx, p, "dropout_backward");
    with_threads([&] { cpu::dropout_backward(dx.f32(), dx.numel(), p, seed); });
  }

  // ---- loss ------------------------------------------------------------------
  void cross_entropy(const Tensor& losses, const Tensor& logits, const Tensor& targets,
                     bool compute_grad, float dloss_scale) override {
    const auto [N, V] = checks.cross_entropy(losses, logits, targets);
    with_threads([&, N = N, V = V] {
      cpu::cross_entropy(losses.f32(), logits.f32(), targets.i32(), N, V, compute_grad,
                         dloss_scale);
    });
  }

  // ---- generation: greedy choice ------------------------------------------------
  void argmax(const Tensor& tokens, const Tensor& logits, int64_t limit) override {
    const auto [N, V] = checks.argmax(tokens, logits, limit);
    cpu::argmax(tokens.i32(), logits.f32(), N, V, limit);
  }

  // ---- optimizer -------------------------------------------------------------
  using Backend::sum_of_squares;
  void sum_of_squares(const Tensor& out, const Tensor& t) override {
    checks.sum_of_squares(out, t);
    with_threads([&] { out.f32()[0] = static_cast<float>(cpu::sum_of_squares(t.f32(), t.numel())); });
  }
  void adamw_update(const AdamWArgs& a) override {
    const std::vector<DecayRun> runs = checks.adamw_update(a);
    float grad_scale = a.grad_scale;
    if (!guarded_grad_scale(a.grad_norm_sq.empty() ? nullptr : a.grad_norm_sq.f32(), a.max_grad_norm, &grad_scale))
      return;  // a diverging step: leave everything as it was
    int64_t begin = 0;
    for (const DecayRun& run : runs) {
      const cpu::AdamWHyper hp{a.lr, a.beta1, a.beta2, a.eps, run.weight_decay, grad_scale, a.step};
      with_threads([&] {
        cpu::adamw_update(a.param.f32() + begin, a.grad.f32() + begin, a.m.f32() + begin, a.v.f32() + begin,
                          run.end - begin, hp);
      });
      begin = run.end;
    }
    // The CPU trains in f32 throughout; a working copy is only kept in sync if given.
    if (!a.param_working.empty()) {
      std::memcpy(a.param_working.data, a.param.data, a.param.nbytes());
    }
  }

 private:
  // Runs fn with this backend's thread count, restoring the caller's setting.
  template <typename Fn>
  void with_threads(Fn&& fn) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads_);
    try {
      fn();
    } catch (...) {
      omp_set_num_threads(saved);
      throw;
    }
    omp_set_num_threads(saved);
  }

  template <typename Fn>
  void rotary(const char* op, const Tensor& qkv, float base, Fn* fn) {
    checks.rotary(qkv, op);
    with_threads([&] { fn(qkv.f32(), qkv.dim(0), qkv.dim(1), qkv.dim(3), qkv.dim(4), base); });
  }

  int threads_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) {
  return std::make_unique<CpuBackend>(threads);
}

}  // namespace alibi
