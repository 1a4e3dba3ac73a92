// The GPT-style language model, written once against the Backend:
//
//   x_0     = dropout(wte[tokens] + position(t))         (position: learned, or sinusoidal
//                                                         with wte scaled by sqrt(d_model);
//                                                         model.embed_layernorm: LNe(...) inside)
//   x_l+1/2 = x_l     + dropout(Attn(LN1(x_l)))           (ALiBi / rotary live inside Attn)
//   x_l+1   = x_l+1/2 + dropout(W_out GELU(W_fc LN2(x_l+1/2)))
//   logits  = LNf(x_L) wte^T                              (tied LM head)
//   loss    = mean over scored tokens of cross-entropy(logits, targets)
//
// Parameters, gradients and activations live in buffers allocated once, up
// front, for a given (batch, length) capacity; nothing is allocated per step.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/kv_cache.h"
#include "model/params.h"

namespace alibi {

// Per-layer activations kept for the backward pass.
struct BlockActivations {
  Tensor ln1, ln1_mean, ln1_rstd;  // [B,T,C], [B*T], [B*T]
  Tensor qkv;                      // [B,T,3,H,D], after rotary
  Tensor att, lse;                 // [B,T,C], [B,H,T]
  Tensor residual_mid;             // x_l+1/2
  Tensor ln2, ln2_mean, ln2_rstd;
  Tensor fc, fc_gelu;              // [B,T,F]
  Tensor residual_out;             // x_l+1
};

struct StepResult {
  double loss_sum = 0.0;   // sum of per-token losses over scored tokens
  int64_t scored = 0;      // tokens with a target >= 0
  double mean_loss() const { return scored ? loss_sum / scored : 0.0; }
};

// Called during backward() each time more parameter gradients are final:
// those of flat elements [first, end of the flat buffer). `first` only
// decreases (the final norm, then the blocks from the last, then the
// embeddings at 0), so a data-parallel trainer can reduce them while the
// backward pass goes on.
using GradsReadyHook = std::function<void(int64_t first)>;

class Model {
 public:
  // The flat parameter and gradient buffers hold the layout padded with
  // zeros to a multiple of `flat_multiple` elements (for even shards).
  Model(Backend& backend, const ModelShape& shape, int64_t flat_multiple = 64);

  const ModelShape& shape() const { return shape_; }
  const std::vector<ParamSpec>& layout() const { return layout_; }
  int64_t num_parameters() const;  // without alignment padding
  // Model FLOPs per trained token, forward and backward, the MFU convention
  // of PaLM and nanoGPT: 6 per parameter (the position table excepted) plus
  // the attention score and value products, 12 * n_layer * d_model * seq_len.
  double training_flops_per_token(int64_t seq_len) const;

  // Master parameters (f32) and gradients (backend grad dtype), flat.
  Tensor params_flat() const { return params_flat_; }
  Tensor grads_flat() const { return grads_flat_; }
  // The weights the ops read, in the activation dtype; empty when the
  // activation dtype is f32 and the ops read the master weights directly.
  Tensor working_flat() const { return working_flat_; }
  const ModelParams& params() const { return params_; }
  const ModelParams& grads() const { return grads_; }

  void load_parameters(const std::vector<float>& host_values);
  // Call after writing params_flat() directly (a checkpoint restore).
  void refresh_working_weights();
  std::vector<float> download_parameters();

  // Which block activations the backward recomputes instead of keeping
  // (train.recompute); the next reserve() lays the activations out anew.
  void set_recompute(Recompute recompute);
  Recompute recompute() const { return recompute_; }
  // Rows of logits a training forward holds at once (0: chosen from the
  // shape, a few large chunks); the next reserve() lays them out anew.
  void set_logit_chunk_rows(int64_t rows);

  // Allocates activations for batches up to (batch, seq_len); reallocates
  // only when a larger batch or length is asked for.
  void reserve(int64_t batch, int64_t seq_len, bool for_training);
  size_t activation_bytes() const;  // of the current reservation (with the workspace)
  // What reserve() would allocate (the activations and the backend's
  // workspace for them), measured without allocating (releases the current
  // reservation).
  size_t activation_bytes_for(int64_t batch, int64_t seq_len, bool for_training);
  // Bytes of parameters, their working copy and gradients.
  size_t parameter_bytes() const;

  // Forward pass over tokens/targets [batch, seq_len] (host i32). Targets < 0
  // are not scored. With `training`, dropout is on (seeded by dropout_seed),
  // activations are kept for backward(), and the gradient of
  // loss_scale * (sum of scored token losses) with respect to the logits is
  // taken in the same pass over them as the loss (the logits, the largest
  // activation, are read once instead of twice), and consumed at once: the
  // LM head's gradients (wte's, += into grads_flat()) are taken here, chunk
  // by chunk, so only a chunk of logits is ever held. Zero the gradients
  // before a training forward, not between it and its backward().
  StepResult forward(const int32_t* tokens, const int32_t* targets, int64_t batch, int64_t seq_len,
                     bool training, uint64_t dropout_seed = 0, float loss_scale = 1.f);
  // Backward of the loss that the last forward(training=true) scaled;
  // gradients ACCUMULATE into grads_flat().
  void backward(const GradsReadyHook& grads_ready = {});
  // The gradients are zero for what follows: the next ops that take them
  // write them instead of adding (no pass over the buffer; every gradient is
  // written by one op of a training forward and backward). Throws
  // std::logic_error between a training forward and its backward(), which
  // would drop the part of the gradients the forward took.
  void zero_grads();

  // Per-token losses of the last forward, [batch*seq_len] (host copy).
  std::vector<float> last_token_losses();
  // Logits [vocab] of row b, position t of the last forward(training=false).
  std::vector<float> logits_at(int64_t b, int64_t t);

  // Generation (no dropout): tokens [B,T] (host) through the model, their
  // keys and values appended to rows [first_row, first_row + B) of `cache`;
  // returns the logits of each row's last token, [B, vocab] (host). A prompt
  // (T > 1) goes into empty rows through the fused attention; one token
  // (T = 1) attends each row's cache. ALiBi and position-free models only:
  // the other methods would need per-row position offsets.
  // A decode step (T = 1) runs eagerly the first time for its rows, cache
  // and buffers, is recorded the second (on a backend that can record ops)
  // and replayed from then on: one launch for the whole step.
  std::vector<float> forward_cached(const int32_t* tokens, int64_t B, int64_t T, KvCache& cache, int64_t first_row);
  // forward_cached for greedy decoding: each row's likeliest next token
  // among the first `limit` of the vocabulary (cpu/argmax.h's rule), chosen
  // on the device, so only B tokens come back instead of [B, vocab] logits;
  // fed straight back as the next step's tokens, they are not sent again.
  std::vector<int32_t> greedy_cached(const int32_t* tokens, int64_t B, int64_t T, KvCache& cache, int64_t first_row,
                                     int64_t limit);
  // Greedy decoding as greedy_cached gives it, `steps` steps of one token a
  // row, each step's choices fed to the next on the device, which runs a
  // step ahead of the host: step s + 1 is queued before step s's tokens are
  // read back, so the device never waits for the host. `tokens` [B] are the
  // first step's. on_tokens(s, tokens of step s) is called in order;
  // returning false stops there, and the step queued beyond it is taken out
  // of the cache again (each row's last position), so the cache ends as
  // after greedy_cached's steps up to s. Returns the steps handed out.
  using TokensSink = std::function<bool(int64_t step, const std::vector<int32_t>& tokens)>;
  int64_t greedy_ahead(const int32_t* tokens, int64_t B, KvCache& cache, int64_t first_row, int64_t limit,
                       int64_t steps, const TokensSink& on_tokens);
  // Recorded decode steps on (the default) or off: the same logits either way.
  void set_decode_graphs(bool on) { decode_graphs_ = on; decode_graph_ = {}; }
  // A decode step as one fused op where the backend has one, or op by op
  // (the default until the fused kernel has run on a GPU: it was written
  // in a session without one): the same tokens, logits within the ops'
  // rounding. alibi-bench decode --fused-step and the GPU tests turn it on.
  void set_fused_decode_step(bool on) { fused_decode_step_ = on; decode_graph_ = {}; }
  // Whether the last forward_cached step ran as the backend's fused op (a
  // prompt, T > 1, never does).
  bool last_decode_step_fused() const { return last_step_fused_; }

 private:
  void allocate_parameters();
  int64_t first_grad_offset_of_layer(int64_t layer) const;
  void carve(int64_t B, int64_t T, bool for_training);
  size_t arena_bytes_for(int64_t batch, int64_t seq_len, bool for_training);
  size_t workspace_bytes_for(int64_t batch, int64_t seq_len, bool for_training) const;
  Tensor act(std::vector<int64_t> shape);                  // from the activation arena
  Tensor stat(std::vector<int64_t> shape, DType dtype);    // f32/i32 from the arena
  void embed(int64_t B, int64_t T, bool training);
  void add_branch(const Tensor& out, const Tensor& residual, const Tensor& inp, const Tensor& weight,
                  const Tensor& bias, const Tensor& scratch, std::optional<uint64_t> dropout_seed);
  void carve_attention(BlockActivations& a, int64_t B, int64_t T, bool for_training);
  void carve_mlp(BlockActivations& a, int64_t B, int64_t T);
  int64_t logit_chunk_rows(int64_t B, int64_t T, int64_t shared_elements) const;
  void lm_head_and_loss(const Tensor& lnf, int64_t N, bool training, float loss_scale);
  // A forward that reads and extends a KV cache (forward_cached).
  struct CachedStep {
    KvCache* cache;
    int64_t first_row;
    KvCache::Positions positions;
  };
  void block_forward(int64_t l, const Tensor& x, int64_t B, int64_t T, bool training,
                     const CachedStep* cached = nullptr);
  void attention_inputs(const BlockActivations& a, int64_t l, const Tensor& x, int64_t B, int64_t T,
                        const CachedStep* cached = nullptr);
  void cached_attention(const Tensor& att, const Tensor& qkv, int64_t l, int64_t B, int64_t T,
                        const CachedStep& cached);
  // greedy_limit: 0 for the logits in f32 (forward_cached), else
  // greedy_cached's limit. tokens null: the last greedy step's choices,
  // left in the input buffer (greedy_ahead; T = 1).
  void run_cached(const int32_t* tokens, int64_t B, int64_t T, KvCache& cache, int64_t first_row,
                  int64_t greedy_limit);
  void cached_forward_ops(int64_t B, int64_t T, const CachedStep& step, int64_t greedy_limit);
  void decode_step(int64_t B, const CachedStep& step, int64_t greedy_limit);
  void decode_step_ops(int64_t B, const CachedStep& step, int64_t greedy_limit);
  void check_greedy_limit(const char* op, int64_t limit) const;  // 1 <= limit <= vocab
  bool fused_decode_step(int64_t B, const CachedStep& step, int64_t greedy_limit);
  void attention_residual(const BlockActivations& a, int64_t l, const Tensor& x, int64_t B, int64_t T,
                          bool dropout);
  void mlp_inputs(const BlockActivations& a, int64_t l, int64_t B, int64_t T);
  void mlp_residual(const BlockActivations& a, int64_t l, int64_t B, int64_t T, bool dropout);
  void recompute_activations(int64_t l, const Tensor& x, int64_t B, int64_t T);
  void block_backward(int64_t l, const Tensor& x, const Tensor& dresidual, int64_t B, int64_t T, GradWrite write);
  bool bias_grads_from_residual() const;
  void embed_backward(const Tensor& dresidual, int64_t B, int64_t T, GradWrite write);
  AttentionShape attention_shape(int64_t B, int64_t T) const;
  std::vector<float> download_f32(const Tensor& logits);
  float sinusoidal_embedding_scale() const;
  uint64_t dropout_site_seed(int64_t layer, int site) const;

  Backend& backend_;
  ModelShape shape_;
  Recompute recompute_ = Recompute::None;
  int64_t logit_chunk_rows_ = 0;  // set_logit_chunk_rows(); 0: automatic
  std::vector<ParamSpec> layout_;
  int64_t flat_numel_ = 0;
  std::unique_ptr<Buffer> param_buffer_, working_buffer_, grad_buffer_, slopes_buffer_;
  Tensor params_flat_, working_flat_, grads_flat_, slopes_;
  ModelParams params_;   // f32 master weights
  ModelParams weights_;  // what the ops read: the working copy, or params_ itself
  ModelParams grads_;

  // Activation arena and the views carved from it.
  std::unique_ptr<Buffer> arena_;
  size_t arena_used_ = 0;
  int64_t capacity_batch_ = 0, capacity_len_ = 0;
  bool capacity_training_ = false;
  uint64_t layout_generation_ = 0;  // counts the arena's layouts (reserve)
  Tensor tokens_, targets_, losses_;
  Tensor embedded_;                       // x_0
  Tensor embed_raw_, embed_mean_, embed_rstd_;  // model.embed_layernorm: its input and statistics
  // One per layer (one shared when not training); the parts recomputed in
  // the backward are one set shared by every layer.
  std::vector<BlockActivations> blocks_;
  Tensor lnf_, lnf_mean_, lnf_rstd_;
  Tensor logits_;  // [rows, V]: all N rows, or a training forward's chunk of them
  Tensor logits_f32_;  // [B, V]: logits on their way to the host
  // Backward scratch.
  Tensor d_residual_, d_scratch_, d_branch_, d_qkv_;

  // The recorded decode step: valid for these rows, this cache's buffers and
  // these activation buffers only.
  struct DecodeGraph {
    uint64_t layout = 0, cache = 0;  // layout_generation_, KvCache::id()
    int64_t first_row = -1, B = 0, greedy_limit = 0;
    bool ran_eagerly = false;
    std::unique_ptr<OpGraph> graph;
    bool same_step(const DecodeGraph& o) const {
      return layout == o.layout && cache == o.cache && first_row == o.first_row && B == o.B &&
             greedy_limit == o.greedy_limit;
    }
  };
  bool decode_graphs_ = true;
  bool fused_decode_step_ = false;
  bool last_step_fused_ = false;
  DecodeGraph decode_graph_;
  // The tokens greedy_cached's last step chose, which it left in tokens_ (the
  // next step's input) under this layout of the arena.
  struct FedBack {
    std::vector<int32_t> tokens;
    uint64_t layout = 0;
    bool holds(const int32_t* next, int64_t B, uint64_t current_layout) const {
      return layout == current_layout && static_cast<int64_t>(tokens.size()) == B &&
             std::equal(tokens.begin(), tokens.end(), next);
    }
  };
  FedBack fed_back_;
  // greedy_ahead's two copies of a step's tokens to the host, alternating.
  std::unique_ptr<HostCopy> token_copies_[2];
  size_t token_copy_bytes_ = 0;

  // State of the last forward.
  int64_t last_B_ = 0, last_T_ = 0;
  bool last_training_ = false;
  bool backward_pending_ = false;  // a training forward took gradients; its backward() has not run
  // Gradients zero_grads() cleared without a pass over them: the next op to
  // take them writes instead of adding (GradWrite::Overwrite). The LM head's
  // (wte's, taken in the training forward) apart from the rest (backward()).
  bool head_grads_cleared_ = false, body_grads_cleared_ = false;
  uint64_t dropout_seed_ = 0;
};

}  // namespace alibi
