// The Backend is the one place where the model's math meets a device. The
// model and trainer are written once against this interface; the CPU backend
// (src/cpu/) is the fp32 reference, the CUDA backend (kernels/) runs bf16.
//
// Conventions, shared by every implementation:
//  * Shapes: B batch, T sequence length, C model width, H heads, D head dim
//    (C = H*D), V vocabulary, N = B*T rows. All tensors are row-major.
//  * qkv is laid out [B, T, 3, H, D]: q, k and v of a token are adjacent.
//  * Activations, and the working copy of the weights that ops read, use
//    activation_dtype(); the optimizer's master weights and moments are f32;
//    parameter gradients use grad_dtype(); statistics (LayerNorm mean/rstd, attention log-sum-exp,
//    losses) are always f32; token ids are i32.
//  * Backward ops OVERWRITE input gradients (dinp, dqkv, ...) and ACCUMULATE
//    (+=) into parameter gradients (dweight, dbias, dwte, ...), so that
//    gradient accumulation over micro-batches is free; those that take a
//    GradWrite write them instead where it says Overwrite (the first
//    micro-batch: no pass zeroing the gradients before it).
//  * A Tensor argument documented as optional may be passed empty().
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/decay_run.h"
#include "core/tensor.h"

namespace alibi {

// Owning handle to device memory. Freed by the backend that made it.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual void* data() = 0;
  virtual size_t size() const = 0;
};

// A sequence of ops recorded once (Backend::end_capture) and replayed with
// the same shapes and buffers, e.g. a CUDA graph: one launch instead of one
// per op.
class OpGraph {
 public:
  virtual ~OpGraph() = default;
  virtual void replay() = 0;
};

// Host memory the device copies into in op order while the host goes on
// (Backend::make_host_copy): start() queues a copy of src and returns at
// once; wait() returns the bytes once that copy has arrived. A decode loop
// reads a step's tokens this way with the next step already queued.
class HostCopy {
 public:
  virtual ~HostCopy() = default;
  virtual void start(const Tensor& src) = 0;  // src.nbytes() <= the bytes it was made for
  virtual const void* wait() = 0;

 protected:
  // start()'s check: throws, naming both sizes, where src does not fit.
  static void check_fits(const Tensor& src, size_t bytes);
};

// How a backward op writes its parameter gradients: added to what they hold,
// or written over it (the same values as adding to zeros, bit for bit).
enum class GradWrite { Accumulate, Overwrite };

struct AttentionShape {
  int64_t B = 0, T = 0, H = 0, D = 0;
};

// A key/value cache for generation: B rows of up to L positions, H heads of D.
struct KvCacheShape {
  int64_t B = 0, H = 0, L = 0, D = 0;
};

// A whole decode step's inputs and outputs (Backend::decode_step): the
// model's weights in the working dtype, each layer's cache rows, and the
// step's tokens, one a row.
struct DecodeStepLayer {
  Tensor ln1_weight, ln1_bias, qkv_weight, qkv_bias, proj_weight, proj_bias;
  Tensor ln2_weight, ln2_bias, fc_weight, fc_bias, out_weight, out_bias;
  Tensor keys, values;  // [B,H,L,D]
};
struct DecodeStepArgs {
  std::vector<DecodeStepLayer> layers;
  Tensor wte;                             // [V,C]: the embedding and the tied LM head
  Tensor embed_ln_weight, embed_ln_bias;  // empty without an embedding LayerNorm
  Tensor lnf_weight, lnf_bias;
  Tensor slopes;   // [H] f32
  Tensor lengths;  // [B] i32: row b's token goes to position lengths[b] - 1
  Tensor tokens;   // [B] i32: the step's tokens; with greedy_limit > 0 the choice is written back here
  Tensor logits;   // [B,V] written
  KvCacheShape cache;
  int64_t d_ff = 0;
  float layernorm_eps = 1e-5f;
  int64_t greedy_limit = 0;  // > 0: argmax (as Backend::argmax) over the first greedy_limit logits
};

// layernorm_forward's arguments, for the ops that normalise their input first.
struct LayerNormArgs {
  Tensor out, mean, rstd;    // written: [N,C], [N] f32, [N] f32
  Tensor inp, weight, bias;  // [N,C], [C], [C]
  float eps = 1e-5f;
};

// One AdamW step over a contiguous range of parameters (one tensor, or many
// tensors of the flat buffer with decay_runs telling their decays apart).
struct AdamWArgs {
  Tensor param;         // f32 master weights, updated in place
  Tensor param_working; // optional: the working copy in activation dtype, refreshed
                        // from the updated master (empty where they are one tensor)
  Tensor grad;          // grad_dtype()
  Tensor m, v;          // f32 first and second moments
  float lr = 0.f;
  float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f;
  float weight_decay = 0.f;  // decoupled: param -= lr * weight_decay * param
  // Where the decay differs by range (many tensors in one pass): runs in
  // order, the last ending at param.numel(); empty: weight_decay everywhere.
  std::vector<DecayRun> decay_runs;
  float grad_scale = 1.f;    // multiplies the gradient first
  int64_t step = 1;          // 1-based, for bias correction
  // Optional: the squared global norm of the gradient, f32 [1] on this
  // device (sum_of_squares writes it), read by the update itself so that the
  // host never waits for it (backend/grad_clip.h): where it is NaN or
  // infinite nothing is written (weights, working copy and moments stay as
  // they were); else the gradient is also scaled by
  // grad_clip_scale(norm_sq, max_grad_norm).
  Tensor grad_norm_sq;
  float max_grad_norm = 0.f;  // 0: no clipping
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual Device device() const = 0;
  virtual std::string name() const = 0;  // e.g. "cpu (2 threads)"
  virtual DType activation_dtype() const = 0;
  virtual DType grad_dtype() const = 0;
  // Dense bf16 matrix peak in FLOP/s for MFU; 0 where no meaningful peak
  // exists (the CPU), and then no MFU is reported.
  virtual double peak_flops() const { return 0.0; }

  // ---- memory --------------------------------------------------------------
  virtual std::unique_ptr<Buffer> allocate(size_t bytes) = 0;
  virtual void upload(const Tensor& dst, const void* host_src) = 0;
  virtual void download(void* host_dst, const Tensor& src) = 0;
  virtual void fill_zero(const Tensor& t) = 0;
  // dst = src on one device, same numel; converts f32 <-> bf16 where the
  // dtypes differ (the CPU backend holds only f32 and needs no conversion).
  virtual void copy(const Tensor& dst, const Tensor& src) = 0;
  virtual void synchronize() = 0;
  // A HostCopy of up to `bytes`; this default copies at start() (download),
  // which suits a backend whose ops have finished when they return.
  virtual std::unique_ptr<HostCopy> make_host_copy(size_t bytes);
  // Bytes still free for allocate(); 0 where unknown (the CPU).
  virtual size_t free_memory() const { return 0; }
  // The stream every op runs on (a cudaStream_t), for a communicator that
  // must order its collectives against the ops; null on the CPU.
  virtual void* native_stream() const { return nullptr; }

  // ---- recording ops (CUDA graphs) ------------------------------------------
  // Between begin_capture and end_capture the ops are recorded, not run; the
  // returned graph runs them. A recorded op may not allocate or wait for the
  // device (run the same ops once eagerly first, so that every scratch
  // buffer has grown). Backends that cannot record return false from
  // can_capture; end_capture also ends a recording an op threw in.
  virtual bool can_capture() const { return false; }
  virtual void begin_capture() { throw std::logic_error(name() + " cannot record ops"); }
  virtual std::unique_ptr<OpGraph> end_capture() { throw std::logic_error(name() + " cannot record ops"); }

  // ---- token embedding: out[n,:] = wte[tokens[n],:] ------------------------
  virtual void embedding_forward(const Tensor& out /*[N,C]*/, const Tensor& tokens /*[N] i32*/,
                                 const Tensor& wte /*[V,C]*/) = 0;
  // Always +=: wte's gradient is first written by the LM head that shares it.
  virtual void embedding_backward(const Tensor& dwte /*[V,C] +=*/, const Tensor& dout /*[N,C]*/,
                                  const Tensor& tokens /*[N]*/) = 0;

  // ---- position methods ----------------------------------------------------
  // Learned: x[b,t,:] += wpe[t,:] (in place). wpe is [T_max, C], T <= T_max.
  virtual void learned_position_forward(const Tensor& x /*[B,T,C]*/, const Tensor& wpe) = 0;
  // dwpe[t,:] += sum_b dout[b,t,:]; with Overwrite, rows t >= T are zeroed.
  virtual void learned_position_backward(const Tensor& dwpe /*[T_max,C] +=*/, const Tensor& dout /*[B,T,C]*/,
                                         GradWrite write = GradWrite::Accumulate) = 0;
  // Sinusoidal (Vaswani et al.; the model scales the token embedding by
  // sqrt(C) first, as they do): x[b,t,2i] += sin(t / 10000^(2i/C)),
  // x[b,t,2i+1] += cos(same), computed from t; no parameters, no backward.
  virtual void sinusoidal_position_forward(const Tensor& x /*[B,T,C]*/) = 0;
  // Rotary (Su et al., rotate-half form): rotates q and k of qkv in place, pair
  // (d, d + D/2) of position t by angle t * base^(-2d/D). Backward rotates the
  // gradients of q and k back by the same angles.
  virtual void rotary_forward(const Tensor& qkv /*[B,T,3,H,D]*/, float base) = 0;
  virtual void rotary_backward(const Tensor& dqkv /*[B,T,3,H,D]*/, float base) = 0;

  // ---- LayerNorm over the last dim, eps inside the sqrt --------------------
  virtual void layernorm_forward(const Tensor& out /*[N,C]*/, const Tensor& mean /*[N] f32*/,
                                 const Tensor& rstd /*[N] f32*/, const Tensor& inp /*[N,C]*/,
                                 const Tensor& weight /*[C]*/, const Tensor& bias /*[C]*/,
                                 float eps) = 0;
  // dinp is overwritten (it may alias dout), or with add_to_dinp accumulated
  // (+=, no alias): a residual stream's gradient takes LayerNorm's share in
  // the same pass. dinp_sums (optional) += the column sums of dinp as
  // written: the residual stream's gradient summed over rows is the bias
  // gradient of the linear layer that added into the stream, taken here
  // without a pass of its own.
  virtual void layernorm_backward(const Tensor& dinp /*[N,C]*/, const Tensor& dweight /*+=*/,
                                  const Tensor& dbias /*+=*/, const Tensor& dout,
                                  const Tensor& inp, const Tensor& weight, const Tensor& mean,
                                  const Tensor& rstd, bool add_to_dinp = false,
                                  const Tensor& dinp_sums /*[C] f32 +=, optional*/ = Tensor{},
                                  GradWrite write = GradWrite::Accumulate) = 0;

  // ---- LayerNorm, then a linear layer (attention's and the MLP's inputs) ----
  // norm.out, norm.mean, norm.rstd = layernorm_forward of norm.inp, then
  // out = matmul_forward of norm.out (or, with GELU, matmul_gelu_forward).
  // These defaults run the two ops; CUDA folds the norm into the product
  // where the rows are few (a decode step), saving a launch and a pass.
  virtual void layernorm_matmul_forward(const Tensor& out /*[N,OC]*/, const LayerNormArgs& norm,
                                        const Tensor& weight /*[OC,C]*/, const Tensor& bias /*[OC], optional*/) {
    layernorm_forward(norm.out, norm.mean, norm.rstd, norm.inp, norm.weight, norm.bias, norm.eps);
    matmul_forward(out, norm.out, weight, bias);
  }
  virtual void layernorm_matmul_gelu_forward(const Tensor& out /*[N,OC]*/, const Tensor& pre /*[N,OC]*/,
                                             const LayerNormArgs& norm, const Tensor& weight /*[OC,C]*/,
                                             const Tensor& bias /*[OC], optional*/) {
    layernorm_forward(norm.out, norm.mean, norm.rstd, norm.inp, norm.weight, norm.bias, norm.eps);
    matmul_gelu_forward(out, pre, norm.out, weight, bias);
  }

  // ---- linear layer: out = inp @ weight^T + bias ----------------------------
  virtual void matmul_forward(const Tensor& out /*[N,OC]*/, const Tensor& inp /*[N,C]*/,
                              const Tensor& weight /*[OC,C]*/,
                              const Tensor& bias /*[OC], optional*/) = 0;
  // dinp = dout @ weight; dweight += dout^T @ inp; dbias += column sums of
  // dout. The parameter gradients come first, so dinp may be inp's buffer.
  virtual void matmul_backward(const Tensor& dinp /*[N,C], optional*/,
                               const Tensor& dweight /*[OC,C] +=*/,
                               const Tensor& dbias /*[OC] +=, optional*/,
                               const Tensor& dout /*[N,OC]*/, const Tensor& inp, const Tensor& weight,
                               GradWrite write = GradWrite::Accumulate) = 0;

  // ---- linear layer added to the residual stream -----------------------------
  // out = residual + inp @ weight^T + bias; out must not alias residual. The
  // default composes the ops; CUDA adds the residual in the product's epilogue.
  virtual void matmul_residual_forward(const Tensor& out /*[N,OC]*/, const Tensor& inp /*[N,C]*/,
                                       const Tensor& weight /*[OC,C]*/, const Tensor& bias /*[OC], optional*/,
                                       const Tensor& residual /*[N,OC]*/) {
    if (out.data == residual.data) throw std::invalid_argument("matmul_residual_forward: out aliases residual");
    matmul_forward(out, inp, weight, bias);
    add(out, out, residual);
  }

  // ---- linear layer and GELU, the MLP's first half --------------------------
  // pre = inp @ weight^T + bias (kept for the backward), out = GELU(pre).
  // These defaults compose the ops above; a backend may fuse them (CUDA: into
  // the matrix product's epilogue, saving a pass over [N,OC] each way).
  virtual void matmul_gelu_forward(const Tensor& out /*[N,OC]*/, const Tensor& pre /*[N,OC]*/,
                                   const Tensor& inp /*[N,C]*/, const Tensor& weight /*[OC,C]*/,
                                   const Tensor& bias /*[OC], optional*/) {
    matmul_forward(pre, inp, weight, bias);
    gelu_forward(out, pre);
  }
  // matmul_backward of a layer whose input was GELU(pre), the input gradient
  // carried on through the GELU: dpre = (dout @ weight) * GELU'(pre)
  // (overwritten), dweight and dbias (optional) += as in matmul_backward.
  // dpre may be inp's buffer (matmul_backward takes the parameter gradients
  // before it writes dinp), which saves the model an [N,C] buffer.
  // dpre_sums (optional) += the column sums of dpre as written: the bias
  // gradient of the layer that computed pre, taken where dpre is made (CUDA:
  // in the product's epilogue, where our own product runs it) instead of in
  // a pass of its own. The CPU composes matmul_backward and gelu_backward.
  virtual void matmul_gelu_backward(const Tensor& dpre /*[N,C]*/, const Tensor& dweight /*[OC,C] +=*/,
                                    const Tensor& dbias /*[OC] +=, optional*/, const Tensor& dout /*[N,OC]*/,
                                    const Tensor& inp /*[N,C], = GELU(pre)*/, const Tensor& pre /*[N,C]*/,
                                    const Tensor& weight,
                                    const Tensor& dpre_sums /*[C] f32 +=, optional*/ = Tensor{},
                                    GradWrite write = GradWrite::Accumulate) = 0;

  // ---- causal self-attention with a per-head linear bias --------------------
  // For query i and key j <= i of head h:
  //   s_ij = (q_i . k_j) / sqrt(D) - slopes[h] * (i - j)
  //   out_i = sum_j softmax_j(s_i)_j v_j,   lse[b,h,i] = log sum_j exp(s_ij)
  // A slope of 0 is plain causal attention. lse is optional (forward-only use).
  virtual void attention_forward(const Tensor& out /*[B,T,C]*/, const Tensor& lse /*[B,H,T]*/,
                                 const Tensor& qkv /*[B,T,3,H,D]*/, const Tensor& slopes /*[H] f32*/,
                                 AttentionShape shape) = 0;
  // dqkv_sums (optional, [3C] f32, += or written as `write` says): the
  // column sums of dqkv, which are the bias gradient of the product that
  // made qkv where the attention reads q, k and v as that product wrote them
  // (no rotary between). The attention's structure gives them without a pass
  // over dqkv: dq's column sums for q; exactly 0 for k (the softmax ignores
  // a shift that all keys of a row share); dout's column sums for v (each
  // row of attention weights sums to 1, so the keys' dv add up to the
  // queries' dout). Every backend takes them so (cpu/matmul.h's column sums).
  virtual void attention_backward(const Tensor& dqkv /*[B,T,3,H,D]*/, const Tensor& dout,
                                  const Tensor& qkv, const Tensor& out, const Tensor& lse,
                                  const Tensor& slopes, AttentionShape shape,
                                  const Tensor& dqkv_sums /*[3C] f32, optional*/ = Tensor{},
                                  GradWrite write = GradWrite::Accumulate) = 0;
  // ---- generation: attention over a key/value cache (cpu/attention_decode.h) --
  // The caches are [B,H,L,D] in the activation dtype; positions [B] i32 on the
  // device. kv_cache_write copies the keys and values of qkv [B,T,3,H,D] to
  // positions starts[b] .. starts[b]+T-1 (which must be < L): a prompt's.
  // attention_decode takes row b's one new token (qkv [B,1,3,H,D]) at position
  // lengths[b]-1 (1 <= lengths[b] <= L): it writes the token's key and value
  // there, as kv_cache_write would, then attends its query over cache
  // positions 0 .. lengths[b]-1: out [B,H*D]. The positions are the caller's to
  // keep in range: a device backend cannot check them without waiting for it.
  virtual void kv_cache_write(const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv,
                              const Tensor& starts, int64_t T, KvCacheShape shape) = 0;
  virtual void attention_decode(const Tensor& out, const Tensor& qkv, const Tensor& k_cache,
                                const Tensor& v_cache, const Tensor& lengths, const Tensor& slopes,
                                KvCacheShape shape) = 0;
  // lengths[b] += added for every row: a recorded decode step ends with it,
  // so that the device already holds the next step's lengths and the host
  // sends none (KvCache::append).
  virtual void kv_cache_advance(const Tensor& lengths /*[B] i32*/, int64_t added) = 0;

  // tokens[n] = the first index of the largest of logits[n, 0 .. limit-1]
  // (a NaN is never the larger): greedy decoding, without the logits leaving
  // the device (cpu/argmax.h).
  virtual void argmax(const Tensor& tokens /*[N] i32*/, const Tensor& logits /*[N,V]*/, int64_t limit) = 0;

  // One decode step of an ALiBi (or position-free) model, every op of
  // Model's op-by-op step (embedding, its LayerNorm, the blocks with
  // attention_decode, the final norm, the LM head, argmax) in one, where the
  // backend has a fused path for the shape; false, doing nothing, where it
  // has none (the CPU): the caller then runs the ops one by one. The same
  // results within the ops' rounding (a different order of sums).
  virtual bool decode_step(const DecodeStepArgs& /*args*/) { return false; }

  // Device scratch the backend's ops need for attention_backward of `shape`
  // (the largest of its scratch users), and its allocation ahead of time, so
  // that a model reserving its memory fails before the first step, not in it.
  virtual size_t attention_workspace_bytes(AttentionShape /*shape*/) const { return 0; }
  virtual void reserve_workspace(size_t /*bytes*/) {}

  // ---- elementwise ----------------------------------------------------------
  // GELU, tanh approximation (GPT-2).
  virtual void gelu_forward(const Tensor& out, const Tensor& inp) = 0;
  virtual void gelu_backward(const Tensor& dinp, const Tensor& inp, const Tensor& dout) = 0;
  // out = a + b; out may alias a or b.
  virtual void add(const Tensor& out, const Tensor& a, const Tensor& b) = 0;
  // x *= factor, in place.
  virtual void scale(const Tensor& x, float factor) = 0;
  // Inverted dropout in place: x *= keep / (1 - p). The keep mask is a pure
  // function of (seed, element index) (see core/random.h), so backward
  // regenerates it instead of storing it, and CPU and CUDA agree.
  virtual void dropout_forward(const Tensor& x, float p, uint64_t seed) = 0;
  virtual void dropout_backward(const Tensor& dx, float p, uint64_t seed) = 0;

  // ---- loss -----------------------------------------------------------------
  // Softmax cross-entropy per row. losses[n] = -log softmax(logits[n])[t_n].
  // A negative target marks a row that is not scored: its loss and gradient
  // are 0. When compute_grad, logits is overwritten with
  // dloss_scale * (softmax(logits[n]) - onehot(t_n)) (the gradient of
  // dloss_scale * sum_n losses[n]).
  virtual void cross_entropy(const Tensor& losses /*[N] f32*/, const Tensor& logits /*[N,V]*/,
                             const Tensor& targets /*[N] i32*/, bool compute_grad,
                             float dloss_scale) = 0;

  // ---- optimizer ------------------------------------------------------------
  // out (f32 [1] on this device) = sum of t's squares, deterministic; the
  // host does not wait for it.
  virtual void sum_of_squares(const Tensor& out, const Tensor& t) = 0;
  // The same read back to the host: waits, and allocates its scalar (tests
  // and one-off checks, not a training step).
  double sum_of_squares(const Tensor& t);
  virtual void adamw_update(const AdamWArgs& args) = 0;
};

}  // namespace alibi
