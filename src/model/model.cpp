#include "model/model.h"

#include <cmath>
#include <stdexcept>

#include "core/random.h"
#include "model/alibi_slopes.h"

namespace alibi {

namespace {
// Dropout sites within a layer; each gets an independent mask.
enum DropoutSite { kEmbeddingDropout = 0, kAttentionDropout = 1, kMlpDropout = 2 };
constexpr size_t kArenaAlignment = 256;
}  // namespace

Model::Model(Backend& backend, const ModelShape& shape, int64_t flat_multiple)
    : backend_(backend), shape_(shape), layout_(parameter_layout(shape)) {
  if (shape.d_model % shape.n_head != 0)
    throw std::invalid_argument("d_model must be divisible by n_head");
  if (flat_multiple < 1) throw std::invalid_argument("flat_multiple must be >= 1");
  flat_numel_ = (total_numel(layout_) + flat_multiple - 1) / flat_multiple * flat_multiple;
  allocate_parameters();
}

int64_t Model::num_parameters() const {
  int64_t n = 0;
  for (const ParamSpec& spec : layout_) n += spec.numel();
  return n;
}

double Model::training_flops_per_token(int64_t seq_len) const {
  int64_t n = num_parameters();
  if (!params_.wpe.empty()) n -= params_.wpe.numel();
  return 6.0 * n + 12.0 * shape_.n_layer * shape_.d_model * seq_len;
}

void Model::allocate_parameters() {
  const int64_t n = flat_numel_;
  const DType grad_dtype = backend_.grad_dtype();
  param_buffer_ = backend_.allocate(n * sizeof(float));
  grad_buffer_ = backend_.allocate(n * dtype_size(grad_dtype));
  params_flat_ = Tensor(param_buffer_->data(), {n}, DType::F32, backend_.device());
  grads_flat_ = Tensor(grad_buffer_->data(), {n}, grad_dtype, backend_.device());
  params_ = bind_params(layout_, param_buffer_->data(), DType::F32, backend_.device());
  weights_ = params_;
  const DType compute = backend_.activation_dtype();
  if (compute != DType::F32) {
    working_buffer_ = backend_.allocate(n * dtype_size(compute));
    working_flat_ = Tensor(working_buffer_->data(), {n}, compute, backend_.device());
    weights_ = bind_params(layout_, working_buffer_->data(), compute, backend_.device());
  }
  grads_ = bind_params(layout_, grad_buffer_->data(), grad_dtype, backend_.device());
  backend_.fill_zero(params_flat_);  // the padding stays zero
  backend_.fill_zero(grads_flat_);

  // Only ALiBi biases the scores; the other methods run the same attention
  // with slope 0, which is plain causal attention.
  std::vector<float> slopes(shape_.n_head, 0.f);
  if (shape_.position == PositionMethod::Alibi) slopes = alibi_slopes(static_cast<int>(shape_.n_head));
  slopes_buffer_ = backend_.allocate(slopes.size() * sizeof(float));
  slopes_ = Tensor(slopes_buffer_->data(), {shape_.n_head}, DType::F32, backend_.device());
  backend_.upload(slopes_, slopes.data());
}

void Model::load_parameters(const std::vector<float>& host_values) {
  // The layout's values; the flat buffer's padding past them stays zero.
  if (static_cast<int64_t>(host_values.size()) != total_numel(layout_))
    throw std::invalid_argument("parameter count mismatch: got " + std::to_string(host_values.size()) +
                                ", model has " + std::to_string(total_numel(layout_)));
  std::vector<float> padded(host_values);
  padded.resize(static_cast<size_t>(params_flat_.numel()), 0.f);
  backend_.upload(params_flat_, padded.data());
  refresh_working_weights();
}

void Model::refresh_working_weights() {
  if (!working_flat_.empty()) backend_.copy(working_flat_, params_flat_);
}

std::vector<float> Model::download_parameters() {
  std::vector<float> values(params_flat_.numel());
  backend_.download(values.data(), params_flat_);
  values.resize(static_cast<size_t>(total_numel(layout_)));
  return values;
}

void Model::zero_grads() {
  if (backward_pending_)
    throw std::logic_error("zero_grads() between a training forward and its backward() would drop the LM head's "
                           "gradients, which the forward takes: zero before the forward");
  // The padding between and after the tensors stays zero from allocation:
  // no op writes it.
  head_grads_cleared_ = body_grads_cleared_ = true;
}

// ---------------------------------------------------------------------------
// Activation memory
// ---------------------------------------------------------------------------

Tensor Model::stat(std::vector<int64_t> shape, DType dtype) {
  Tensor t(nullptr, std::move(shape), dtype, backend_.device());
  const size_t bytes = (t.nbytes() + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
  if (arena_) t.data = static_cast<char*>(arena_->data()) + arena_used_;
  arena_used_ += bytes;
  return t;
}

Tensor Model::act(std::vector<int64_t> shape) { return stat(std::move(shape), backend_.activation_dtype()); }

size_t Model::activation_bytes() const {
  if (!arena_) return 0;
  return arena_->size() + workspace_bytes_for(capacity_batch_, capacity_len_, capacity_training_);
}

size_t Model::parameter_bytes() const {
  return params_flat_.nbytes() + working_flat_.nbytes() + grads_flat_.nbytes();
}

namespace {
// What each layer keeps for the backward; the rest is recomputed there.
struct KeptActivations {
  bool attention;  // LN1, q/k/v, attention output and its log-sum-exp
  bool mid;        // the residual stream between the sub-layers
  bool mlp;        // LN2, the MLP's hidden layer before and after GELU
};
KeptActivations kept_for(Recompute recompute) {
  return {recompute != Recompute::Attention && recompute != Recompute::Block, recompute != Recompute::Block,
          recompute != Recompute::Mlp && recompute != Recompute::Block};
}
}  // namespace

void Model::set_recompute(Recompute recompute) {
  recompute_ = recompute;
  arena_.reset();
  capacity_batch_ = capacity_len_ = 0;
}

void Model::set_logit_chunk_rows(int64_t rows) {
  if (rows < 0) throw std::invalid_argument("set_logit_chunk_rows: rows must be >= 0");
  logit_chunk_rows_ = rows;
  arena_.reset();
  capacity_batch_ = capacity_len_ = 0;
}

// The logits [B*T, V] are the largest activation (1.5 GiB in bf16 for GPT-2
// at 16 x 1024); training holds chunks of at most 2^27 elements (256 MiB in
// bf16; 2^28 left the 350M step above PyTorch's memory) plus the
// `shared_elements` of the backward's buffers that the chunk overlaps (see
// carve()), which cost no memory. Each chunk past the first costs one more
// pass over wte's f32 gradient, so the chunks are few and large (whole
// 128-row GEMM tiles); at least B rows, which forward_cached() takes, one per
// row.
int64_t Model::logit_chunk_rows(int64_t B, int64_t T, int64_t shared_elements) const {
  constexpr int64_t kMaxChunkElements = int64_t{1} << 27;
  const int64_t N = B * T, V = shape_.vocab;
  if (logit_chunk_rows_ > 0) return std::min(N, std::max(B, logit_chunk_rows_));
  const int64_t budget = kMaxChunkElements + shared_elements;
  const int64_t chunks = (N * V + budget - 1) / budget;
  const int64_t rows = ((N + chunks - 1) / chunks + 127) / 128 * 128;
  return std::min(N, std::max(B, rows));
}

void Model::carve_attention(BlockActivations& a, int64_t B, int64_t T, bool for_training) {
  const int64_t C = shape_.d_model, H = shape_.n_head, N = B * T;
  a.ln1 = act({B, T, C});
  a.ln1_mean = stat({N}, DType::F32);
  a.ln1_rstd = stat({N}, DType::F32);
  a.qkv = act({B, T, 3, H, shape_.head_dim()});
  a.att = act({B, T, C});
  a.lse = for_training ? stat({B, H, T}, DType::F32) : Tensor();
}

void Model::carve_mlp(BlockActivations& a, int64_t B, int64_t T) {
  const int64_t C = shape_.d_model, F = shape_.d_ff, N = B * T;
  a.ln2 = act({B, T, C});
  a.ln2_mean = stat({N}, DType::F32);
  a.ln2_rstd = stat({N}, DType::F32);
  a.fc = act({B, T, F});
  a.fc_gelu = act({B, T, F});
}

// Lays out every activation view for (B, T) from the arena's start; with no
// arena allocated the views only measure (their data stays null).
void Model::carve(int64_t B, int64_t T, bool for_training) {
  const int64_t C = shape_.d_model, V = shape_.vocab;
  const int64_t H = shape_.n_head, N = B * T;
  arena_used_ = 0;
  tokens_ = stat({B, T}, DType::I32);
  targets_ = stat({B, T}, DType::I32);
  losses_ = stat({N}, DType::F32);
  embedded_ = act({B, T, C});
  if (shape_.embed_layernorm) {
    embed_raw_ = act({B, T, C});
    embed_mean_ = stat({N}, DType::F32);
    embed_rstd_ = stat({N}, DType::F32);
  }
  if (for_training) {
    // Every layer keeps its activations for the backward pass, but for the
    // parts it recomputes there: those are one set, shared.
    const KeptActivations kept = kept_for(recompute_);
    BlockActivations shared;
    if (!kept.attention) carve_attention(shared, B, T, true);
    if (!kept.mid) shared.residual_mid = act({B, T, C});
    if (!kept.mlp) carve_mlp(shared, B, T);
    blocks_.assign(shape_.n_layer, shared);
    for (BlockActivations& a : blocks_) {
      if (kept.attention) carve_attention(a, B, T, true);
      if (kept.mid) a.residual_mid = act({B, T, C});
      if (kept.mlp) carve_mlp(a, B, T);
      a.residual_out = act({B, T, C});
    }
  } else {
    // Evaluation keeps one layer's activations and reuses them for every
    // layer; the residual stream is updated in place in x_0's buffer.
    blocks_.assign(1, {});
    carve_attention(blocks_[0], B, T, false);
    blocks_[0].residual_mid = act({B, T, C});
    carve_mlp(blocks_[0], B, T);
    blocks_[0].residual_out = embedded_;
  }
  lnf_ = act({B, T, C});
  lnf_mean_ = stat({N}, DType::F32);
  lnf_rstd_ = stat({N}, DType::F32);
  logits_f32_ = stat({B, V}, DType::F32);  // enough for one position of each row
  if (!for_training) {
    logits_ = act({N, V});
    d_residual_ = d_scratch_ = d_branch_ = d_qkv_ = Tensor();
    return;
  }
  // The LM head writes dlnf into d_scratch_ while its logits chunk is live;
  // the other gradient buffers are first written by backward(), after the
  // forward's last use of the chunk, so the chunk lies over them and grows
  // by their size at no cost in memory.
  d_scratch_ = act({B, T, C});
  const size_t shared_start = arena_used_;
  d_residual_ = act({B, T, C});
  d_branch_ = act({B, T, C});
  d_qkv_ = act({B, T, 3, H, shape_.head_dim()});
  const size_t shared_end = arena_used_;
  arena_used_ = shared_start;
  const size_t element = dtype_size(backend_.activation_dtype());
  logits_ = act({logit_chunk_rows(B, T, static_cast<int64_t>((shared_end - shared_start) / element)), V});
  arena_used_ = std::max(arena_used_, shared_end);
}

size_t Model::arena_bytes_for(int64_t batch, int64_t seq_len, bool for_training) {
  arena_.reset();  // measuring invalidates the views: the next forward re-carves
  capacity_batch_ = capacity_len_ = 0;
  carve(batch, seq_len, for_training);
  return arena_used_;
}

size_t Model::workspace_bytes_for(int64_t batch, int64_t seq_len, bool for_training) const {
  return for_training ? backend_.attention_workspace_bytes(attention_shape(batch, seq_len)) : 0;
}

size_t Model::activation_bytes_for(int64_t batch, int64_t seq_len, bool for_training) {
  return arena_bytes_for(batch, seq_len, for_training) + workspace_bytes_for(batch, seq_len, for_training);
}

void Model::reserve(int64_t batch, int64_t seq_len, bool for_training) {
  const bool fits = batch <= capacity_batch_ && seq_len <= capacity_len_ &&
                    (capacity_training_ || !for_training);
  if (arena_ && fits) return;
  // Measure, allocate exactly that, then bind the views into it.
  arena_ = backend_.allocate(arena_bytes_for(batch, seq_len, for_training));
  carve(batch, seq_len, for_training);
  ++layout_generation_;
  backend_.reserve_workspace(workspace_bytes_for(batch, seq_len, for_training));
  capacity_batch_ = batch, capacity_len_ = seq_len, capacity_training_ = for_training;
}

// ---------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------

float Model::sinusoidal_embedding_scale() const { return std::sqrt(static_cast<float>(shape_.d_model)); }

AttentionShape Model::attention_shape(int64_t B, int64_t T) const {
  return {B, T, shape_.n_head, shape_.head_dim()};
}

uint64_t Model::dropout_site_seed(int64_t layer, int site) const {
  return derive_seed(dropout_seed_, static_cast<uint64_t>(layer), static_cast<uint64_t>(site));
}

// Views of a reserved tensor shrunk to the batch and length of this call.
static Tensor rows(const Tensor& t, std::vector<int64_t> shape) {
  Tensor v(t.data, std::move(shape), t.dtype, t.device);
  return v;
}

// Rows [first, first + n) of a buffer whose rows are `width` elements wide.
static Tensor row_slice(const Tensor& t, int64_t first, int64_t n, int64_t width) {
  char* base = static_cast<char*>(t.data) + first * width * static_cast<int64_t>(dtype_size(t.dtype));
  return width == 1 ? Tensor(base, {n}, t.dtype, t.device) : Tensor(base, {n, width}, t.dtype, t.device);
}

void Model::embed(int64_t B, int64_t T, bool training) {
  const int64_t C = shape_.d_model, N = B * T;
  // With an embedding LayerNorm the sum of embeddings is its input, kept for
  // its backward; x_0 is its output.
  Tensor x = rows(shape_.embed_layernorm ? embed_raw_ : embedded_, {B, T, C});
  backend_.embedding_forward(x.view({B * T, C}), rows(tokens_, {B * T}), weights_.wte);
  if (shape_.position == PositionMethod::Learned) {
    if (T > shape_.max_position)
      throw std::invalid_argument("sequence length " + std::to_string(T) +
                                  " exceeds the learned position table (" +
                                  std::to_string(shape_.max_position) + " rows)");
    backend_.learned_position_forward(x, weights_.wpe);
  } else if (shape_.position == PositionMethod::Sinusoidal) {
    // Vaswani et al. scale token embeddings by sqrt(d_model) so that the
    // fixed, unit-amplitude table does not drown them out.
    backend_.scale(x, sinusoidal_embedding_scale());
    backend_.sinusoidal_position_forward(x);
  }
  if (shape_.embed_layernorm) {
    backend_.layernorm_forward(rows(embedded_, {N, C}), rows(embed_mean_, {N}), rows(embed_rstd_, {N}),
                               x.view({N, C}), weights_.embed_ln_weight, weights_.embed_ln_bias,
                               shape_.layernorm_eps);
    x = rows(embedded_, {B, T, C});
  }
  if (training && shape_.dropout > 0.f)
    backend_.dropout_forward(x, shape_.dropout, dropout_site_seed(-1, kEmbeddingDropout));
}

// out = residual + dropout(inp @ weight^T + bias). Without dropout the add
// rides in the matrix product (one pass less over [N, C]); with it, the
// branch goes through `scratch` first.
void Model::add_branch(const Tensor& out, const Tensor& residual, const Tensor& inp, const Tensor& weight,
                       const Tensor& bias, const Tensor& scratch, std::optional<uint64_t> dropout_seed) {
  if (!dropout_seed) {
    backend_.matmul_residual_forward(out, inp, weight, bias, residual);
    return;
  }
  backend_.matmul_forward(scratch, inp, weight, bias);
  backend_.dropout_forward(scratch, shape_.dropout, *dropout_seed);
  backend_.add(out, residual, scratch);
}

void Model::block_forward(int64_t l, const Tensor& x, int64_t B, int64_t T, bool training,
                          const CachedStep* cached) {
  const BlockActivations& a = blocks_[training ? l : 0];
  const bool dropout = training && shape_.dropout > 0.f;
  attention_inputs(a, l, x, B, T, cached);
  attention_residual(a, l, x, B, T, dropout);
  mlp_inputs(a, l, B, T);
  mlp_residual(a, l, B, T, dropout);
}

// LN1(x), q/k/v (rotated where the position method rotates) and Attn.
void Model::attention_inputs(const BlockActivations& a, int64_t l, const Tensor& x, int64_t B, int64_t T,
                             const CachedStep* cached) {
  const int64_t C = shape_.d_model, H = shape_.n_head, N = B * T;
  const BlockParams& w = weights_.blocks[l];
  Tensor ln1 = rows(a.ln1, {N, C}), qkv = rows(a.qkv, {B, T, 3, H, shape_.head_dim()});
  Tensor lse = a.lse.empty() ? Tensor() : rows(a.lse, {B, H, T});
  const LayerNormArgs ln1_of_x{ln1, rows(a.ln1_mean, {N}), rows(a.ln1_rstd, {N}), x.view({N, C}), w.ln1_weight,
                               w.ln1_bias, shape_.layernorm_eps};
  backend_.layernorm_matmul_forward(qkv.view({N, 3 * C}), ln1_of_x, w.qkv_weight, w.qkv_bias);
  if (shape_.position == PositionMethod::Rotary) backend_.rotary_forward(qkv, shape_.rotary_base);
  if (cached)
    cached_attention(rows(a.att, {B, T, C}), qkv, l, B, T, *cached);
  else
    backend_.attention_forward(rows(a.att, {B, T, C}), lse, qkv, slopes_, attention_shape(B, T));
}

// The new keys and values into the cache, then attention: a prompt's own
// (its rows start empty), or one query's over its row's cache.
void Model::cached_attention(const Tensor& att, const Tensor& qkv, int64_t l, int64_t B, int64_t T,
                             const CachedStep& cached) {
  const KvCache& cache = *cached.cache;
  const Tensor keys = cache.keys(l, cached.first_row, B), values = cache.values(l, cached.first_row, B);
  if (T == 1) {  // the decode kernel appends the token's key and value itself
    backend_.attention_decode(att.view({B, shape_.d_model}), qkv, keys, values, cached.positions.lengths, slopes_,
                              cache.shape_of(B));
    return;
  }
  backend_.kv_cache_write(keys, values, qkv, cached.positions.starts, T, cache.shape_of(B));
  backend_.attention_forward(att, Tensor(), qkv, slopes_, attention_shape(B, T));
}

// mid = x + dropout(W_proj Attn + b). The branch's scratch is lnf_, free
// until the final LayerNorm and again once the LM head's backward is done.
void Model::attention_residual(const BlockActivations& a, int64_t l, const Tensor& x, int64_t B, int64_t T,
                               bool dropout) {
  const int64_t C = shape_.d_model, N = B * T;
  const BlockParams& w = weights_.blocks[l];
  add_branch(rows(a.residual_mid, {N, C}), x.view({N, C}), rows(a.att, {N, C}), w.proj_weight, w.proj_bias,
             rows(lnf_, {N, C}), dropout ? std::optional(dropout_site_seed(l, kAttentionDropout)) : std::nullopt);
}

// LN2(mid) and the MLP's hidden layer, before and after GELU.
void Model::mlp_inputs(const BlockActivations& a, int64_t l, int64_t B, int64_t T) {
  const int64_t C = shape_.d_model, F = shape_.d_ff, N = B * T;
  const BlockParams& w = weights_.blocks[l];
  const LayerNormArgs ln2_of_mid{rows(a.ln2, {N, C}), rows(a.ln2_mean, {N}), rows(a.ln2_rstd, {N}),
                                 rows(a.residual_mid, {N, C}), w.ln2_weight, w.ln2_bias, shape_.layernorm_eps};
  backend_.layernorm_matmul_gelu_forward(rows(a.fc_gelu, {N, F}), rows(a.fc, {N, F}), ln2_of_mid, w.fc_weight,
                                         w.fc_bias);
}

// out = mid + dropout(W_out GELU(fc) + b).
void Model::mlp_residual(const BlockActivations& a, int64_t l, int64_t B, int64_t T, bool dropout) {
  const int64_t C = shape_.d_model, F = shape_.d_ff, N = B * T;
  const BlockParams& w = weights_.blocks[l];
  add_branch(rows(a.residual_out, {N, C}), rows(a.residual_mid, {N, C}), rows(a.fc_gelu, {N, F}), w.out_weight,
             w.out_bias, rows(lnf_, {N, C}),
             dropout ? std::optional(dropout_site_seed(l, kMlpDropout)) : std::nullopt);
}

StepResult Model::forward(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t T,
                          bool training, uint64_t dropout_seed, float loss_scale) {
  reserve(B, T, training);
  const int64_t C = shape_.d_model, N = B * T;
  last_B_ = B, last_T_ = T, last_training_ = training, dropout_seed_ = dropout_seed;
  backend_.upload(rows(tokens_, {N}), tokens);
  fed_back_ = {};
  backend_.upload(rows(targets_, {N}), targets);

  embed(B, T, training);
  Tensor x = rows(embedded_, {B, T, C});
  for (int64_t l = 0; l < shape_.n_layer; ++l) {
    block_forward(l, x, B, T, training);
    x = rows(blocks_[training ? l : 0].residual_out, {B, T, C});
  }
  Tensor lnf = rows(lnf_, {N, C});
  backend_.layernorm_forward(lnf, rows(lnf_mean_, {N}), rows(lnf_rstd_, {N}), x.view({N, C}),
                             weights_.lnf_weight, weights_.lnf_bias, shape_.layernorm_eps);
  lm_head_and_loss(lnf, N, training, loss_scale);
  backward_pending_ = training;

  StepResult result;
  std::vector<float> losses = last_token_losses();
  for (int64_t n = 0; n < N; ++n) {
    if (targets[n] < 0) continue;
    result.loss_sum += losses[n];
    result.scored += 1;
  }
  return result;
}

// Logits, per-token losses and, when training, the head's gradients, a chunk
// of rows at a time (carve() sizes the chunk): training overwrites each
// chunk's logits with their gradient in the loss's pass over them and
// consumes it at once, into dlnf (d_scratch_, which backward() reads first)
// and wte's gradient (+=), so only one chunk of logits is ever held.
void Model::lm_head_and_loss(const Tensor& lnf, int64_t N, bool training, float loss_scale) {
  const int64_t C = shape_.d_model, V = shape_.vocab, chunk = logits_.dim(0);
  for (int64_t first = 0; first < N; first += chunk) {
    const int64_t n = std::min(chunk, N - first);
    const Tensor logits = rows(logits_, {n, V}), inp = row_slice(lnf, first, n, C);
    backend_.matmul_forward(logits, inp, weights_.wte, Tensor());
    backend_.cross_entropy(row_slice(losses_, first, n, 1), logits, row_slice(targets_, first, n, 1), training,
                           loss_scale);
    if (training) {
      const GradWrite write = head_grads_cleared_ ? GradWrite::Overwrite : GradWrite::Accumulate;
      backend_.matmul_backward(row_slice(d_scratch_, first, n, C), grads_.wte, Tensor(), logits, inp, weights_.wte,
                               write);
      head_grads_cleared_ = false;
    }
  }
}

std::vector<float> Model::forward_cached(const int32_t* tokens, int64_t B, int64_t T, KvCache& cache,
                                         int64_t first_row) {
  run_cached(tokens, B, T, cache, first_row, /*greedy_limit=*/0);
  std::vector<float> host(static_cast<size_t>(B * shape_.vocab));
  backend_.download(host.data(), rows(logits_f32_, {B * shape_.vocab}));
  return host;
}

void Model::check_greedy_limit(const char* op, int64_t limit) const {
  if (limit < 1 || limit > shape_.vocab)
    throw std::invalid_argument(std::string(op) + ": the token limit " + std::to_string(limit) + " is outside [1, " +
                                std::to_string(shape_.vocab) + "]");
}

std::vector<int32_t> Model::greedy_cached(const int32_t* tokens, int64_t B, int64_t T, KvCache& cache,
                                          int64_t first_row, int64_t limit) {
  check_greedy_limit("greedy_cached", limit);
  run_cached(tokens, B, T, cache, first_row, limit);
  std::vector<int32_t> host(static_cast<size_t>(B));
  backend_.download(host.data(), rows(tokens_, {B}));
  fed_back_ = {host, layout_generation_};
  return host;
}

int64_t Model::greedy_ahead(const int32_t* tokens, int64_t B, KvCache& cache, int64_t first_row, int64_t limit,
                           int64_t steps, const TokensSink& on_tokens) {
  check_greedy_limit("greedy_ahead", limit);
  if (steps < 1) throw std::invalid_argument("greedy_ahead needs at least one step");
  const size_t bytes = static_cast<size_t>(B) * sizeof(int32_t);
  if (token_copy_bytes_ < bytes) {
    for (auto& copy : token_copies_) copy = backend_.make_host_copy(bytes);
    token_copy_bytes_ = bytes;
  }
  // Step s's tokens travel through copy s % 2 while step s + 1 runs; the
  // copy of a step is queued after it and before the next, which overwrites
  // the input buffer it reads.
  auto queue_step = [&](int64_t s, const int32_t* host_tokens) {
    run_cached(host_tokens, B, 1, cache, first_row, limit);
    token_copies_[s % 2]->start(rows(tokens_, {B}));
  };
  // The step queued beyond the last one wanted: out of the cache, its tokens unread.
  auto drop_queued_step = [&] {
    for (int64_t b = first_row; b < first_row + B; ++b) cache.truncate(b, 1, cache.length(b) - 1);
    fed_back_ = {};
  };
  queue_step(0, tokens);
  for (int64_t s = 0;; ++s) {
    const bool more = s + 1 < steps;
    if (more) queue_step(s + 1, /*host_tokens=*/nullptr);
    const auto* arrived = static_cast<const int32_t*>(token_copies_[s % 2]->wait());
    std::vector<int32_t> chosen(arrived, arrived + B);
    bool go_on = false;
    try {
      go_on = on_tokens(s, chosen);
    } catch (...) {
      if (more) drop_queued_step();
      throw;
    }
    if (more && go_on) continue;
    if (more)
      drop_queued_step();
    else
      fed_back_ = {chosen, layout_generation_};
    return s + 1;
  }
}

void Model::run_cached(const int32_t* tokens, int64_t B, int64_t T, KvCache& cache, int64_t first_row,
                       int64_t greedy_limit) {
  if (shape_.position != PositionMethod::Alibi && shape_.position != PositionMethod::None)
    throw std::invalid_argument(std::string("generation with a KV cache supports alibi and none positions, not ") +
                                position_method_name(shape_.position));
  if (B < 1 || T < 1) throw std::invalid_argument("forward_cached needs at least one row and token");
  if (T > 1)
    for (int64_t b = first_row; b < first_row + B; ++b)
      if (cache.length(b) != 0)
        throw std::invalid_argument("a prompt goes into an empty KV cache row; row " + std::to_string(b) + " holds " +
                                    std::to_string(cache.length(b)) + " positions");
  const uint64_t layout_before = layout_generation_;
  reserve(B, T, /*for_training=*/false);
  if (!tokens && (T != 1 || layout_generation_ != layout_before))
    throw std::logic_error("run_cached: no tokens given, and the input buffer does not hold a step's");
  const CachedStep step{&cache, first_row, cache.append(first_row, B, T)};
  last_B_ = B, last_T_ = T, last_training_ = false;
  // A greedy step left its tokens in the input buffer: fed back as they
  // are, they need no upload (a round trip to the device a token).
  const bool fed_back = !tokens || (T == 1 && fed_back_.holds(tokens, B, layout_generation_));
  if (!fed_back) backend_.upload(rows(tokens_, {B * T}), tokens);
  fed_back_ = {};
  if (T == 1) {
    decode_step(B, step, greedy_limit);
    cache.advanced_on_device(first_row, B);  // the step ended with kv_cache_advance
  } else {
    cached_forward_ops(B, T, step, greedy_limit);
  }
  last_T_ = 1;  // logits_at(b, 0) reads these
}

// forward_cached's device work, its tokens uploaded: the blocks, then the
// final norm and the LM head on each row's last token, and from its logits
// the f32 copy for the host or (greedy_limit > 0) each row's likeliest token.
void Model::cached_forward_ops(int64_t B, int64_t T, const CachedStep& step, int64_t greedy_limit) {
  const int64_t C = shape_.d_model, V = shape_.vocab;
  last_step_fused_ = T == 1 && fused_decode_step(B, step, greedy_limit);
  if (last_step_fused_) {
    if (greedy_limit == 0) backend_.copy(rows(logits_f32_, {B * V}), rows(logits_, {B * V}));
    return;
  }
  embed(B, T, /*training=*/false);
  Tensor x = rows(embedded_, {B, T, C});
  for (int64_t l = 0; l < shape_.n_layer; ++l) {
    block_forward(l, x, B, T, /*training=*/false, &step);
    x = rows(blocks_[0].residual_out, {B, T, C});
  }
  // Only each row's last token goes through the final norm and the LM head:
  // its row moves to row b (never past a row still to be moved).
  const size_t row_bytes = static_cast<size_t>(C) * dtype_size(x.dtype);
  auto row_of = [&](const Tensor& t, int64_t n) {
    return Tensor(static_cast<char*>(t.data) + n * row_bytes, {1, C}, t.dtype, t.device);
  };
  for (int64_t b = 0; T > 1 && b < B; ++b) backend_.copy(row_of(x, b), row_of(x, b * T + T - 1));
  const LayerNormArgs lnf_of_x{rows(lnf_, {B, C}), rows(lnf_mean_, {B}), rows(lnf_rstd_, {B}), rows(x, {B, C}),
                               weights_.lnf_weight, weights_.lnf_bias, shape_.layernorm_eps};
  const Tensor logits = rows(logits_, {B, V});
  backend_.layernorm_matmul_forward(logits, lnf_of_x, weights_.wte, Tensor());
  if (greedy_limit > 0)  // into the input buffer, where the next step finds them
    backend_.argmax(rows(tokens_, {B}), logits, greedy_limit);
  else
    backend_.copy(rows(logits_f32_, {B * V}), logits.view({B * V}));
}

// The whole decode step as the backend's one op, where it has one: the ops
// below (embed, block_forward with attention_decode, the final norm, the LM
// head, argmax) with their inputs and outputs.
bool Model::fused_decode_step(int64_t B, const CachedStep& step, int64_t greedy_limit) {
  if (!fused_decode_step_) return false;
  DecodeStepArgs a;
  for (int64_t l = 0; l < shape_.n_layer; ++l) {
    const BlockParams& w = weights_.blocks[l];
    a.layers.push_back({w.ln1_weight, w.ln1_bias, w.qkv_weight, w.qkv_bias, w.proj_weight, w.proj_bias,
                        w.ln2_weight, w.ln2_bias, w.fc_weight, w.fc_bias, w.out_weight, w.out_bias,
                        step.cache->keys(l, step.first_row, B), step.cache->values(l, step.first_row, B)});
  }
  a.wte = weights_.wte, a.lnf_weight = weights_.lnf_weight, a.lnf_bias = weights_.lnf_bias;
  if (shape_.embed_layernorm) a.embed_ln_weight = weights_.embed_ln_weight, a.embed_ln_bias = weights_.embed_ln_bias;
  a.slopes = slopes_, a.lengths = step.positions.lengths, a.tokens = rows(tokens_, {B});
  a.logits = rows(logits_, {B, shape_.vocab});
  a.cache = step.cache->shape_of(B), a.d_ff = shape_.d_ff, a.layernorm_eps = shape_.layernorm_eps;
  a.greedy_limit = greedy_limit;
  return backend_.decode_step(a);
}

// A decode step is a hundred-odd small launches, each far shorter than the
// host takes to issue it: recorded once, it is replayed as one.
void Model::decode_step(int64_t B, const CachedStep& step, int64_t greedy_limit) {
  DecodeGraph now;
  now.layout = layout_generation_, now.cache = step.cache->id();
  now.first_row = step.first_row, now.B = B, now.greedy_limit = greedy_limit;
  if (!decode_graph_.same_step(now)) decode_graph_ = std::move(now);
  if (decode_graph_.graph) {
    decode_graph_.graph->replay();
    return;
  }
  // The first run eagerly: it also grows every scratch buffer, which a
  // recording must not do.
  if (!decode_graphs_ || !backend_.can_capture() || !decode_graph_.ran_eagerly) {
    decode_step_ops(B, step, greedy_limit);
    decode_graph_.ran_eagerly = true;
    return;
  }
  backend_.begin_capture();
  try {
    decode_step_ops(B, step, greedy_limit);
  } catch (...) {
    // End the recording so that the stream is usable again; the error to
    // report is the op's, not the aborted recording's.
    try {
      backend_.end_capture();
    } catch (...) {
    }
    throw;
  }
  decode_graph_.graph = backend_.end_capture();
  decode_graph_.graph->replay();  // recording ran nothing
}

// A decode step's ops, and last the rows' device lengths moved on to the
// next step's: then the host sends none (KvCache::append).
void Model::decode_step_ops(int64_t B, const CachedStep& step, int64_t greedy_limit) {
  cached_forward_ops(B, 1, step, greedy_limit);
  backend_.kv_cache_advance(step.positions.lengths, 1);
}

// A host f32 copy of logits rows (converted on the device where they are bf16).
std::vector<float> Model::download_f32(const Tensor& logits) {
  Tensor f32 = rows(logits_f32_, {logits.numel()});
  backend_.copy(f32, logits.view({logits.numel()}));
  std::vector<float> host(static_cast<size_t>(logits.numel()));
  backend_.download(host.data(), f32);
  return host;
}

std::vector<float> Model::logits_at(int64_t b, int64_t t) {
  if (last_training_) throw std::logic_error("logits_at: the last forward trained (its logits became gradients)");
  if (logits_.dim(0) < last_B_ * last_T_)
    throw std::logic_error("logits_at: the last forward took the logits in chunks (a training reservation)");
  if (b < 0 || b >= last_B_ || t < 0 || t >= last_T_) throw std::out_of_range("logits_at: no such position");
  const size_t row_bytes = static_cast<size_t>(shape_.vocab) * dtype_size(logits_.dtype);
  return download_f32(Tensor(static_cast<char*>(logits_.data) + (b * last_T_ + t) * row_bytes, {shape_.vocab},
                             logits_.dtype, logits_.device));
}

std::vector<float> Model::last_token_losses() {
  std::vector<float> losses(last_B_ * last_T_);
  backend_.download(losses.data(), rows(losses_, {last_B_ * last_T_}));
  return losses;
}

// ---------------------------------------------------------------------------
// Backward
// ---------------------------------------------------------------------------

// Brings back what the forward of layer l did not keep (train.recompute):
// the forward's own ops, weights and dropout seeds, so the same values.
void Model::recompute_activations(int64_t l, const Tensor& x, int64_t B, int64_t T) {
  const BlockActivations& a = blocks_[l];
  const KeptActivations kept = kept_for(recompute_);
  if (!kept.attention) attention_inputs(a, l, x, B, T);
  if (!kept.mid) attention_residual(a, l, x, B, T, shape_.dropout > 0.f);
  if (!kept.mlp) mlp_inputs(a, l, B, T);
}

// The residual stream's gradient summed over rows is the bias gradient of the
// linear layer that added into the stream (the MLP's out layer above a block's
// output, the attention's projection above its middle). Where this holds, the
// LayerNorm backward that writes that gradient adds the sums as it goes
// (layernorm_backward's dinp_sums) and the products skip the bias: one pass
// over the gradient less each. Not with dropout, whose mask lies between.
bool Model::bias_grads_from_residual() const { return shape_.dropout == 0.f; }

// `write`: each parameter gradient of the block is taken by exactly one op
// below (the out bias's by the next block's LN1, or the final norm's).
void Model::block_backward(int64_t l, const Tensor& x, const Tensor& dres, int64_t B, int64_t T, GradWrite write) {
  recompute_activations(l, x, B, T);
  const int64_t C = shape_.d_model, F = shape_.d_ff, N = B * T, H = shape_.n_head;
  const BlockParams& w = weights_.blocks[l];
  const BlockParams& g = grads_.blocks[l];
  const BlockActivations& a = blocks_[l];
  const bool dropout = shape_.dropout > 0.f;
  Tensor xr = x.view({N, C});
  Tensor mid = rows(a.residual_mid, {N, C});
  Tensor dbranch = rows(d_branch_, {N, C}), dtmp = rows(d_scratch_, {N, C});
  // d fc takes GELU(fc)'s place, free once the out-projection's weight
  // gradient is taken (matmul_gelu_backward does that first).
  Tensor dfc = rows(a.fc_gelu, {N, F});

  // MLP: out = mid + dropout(W_out gelu(W_fc LN2(mid))). dres holds d out.
  Tensor dmlp = dres;
  if (dropout) {
    backend_.copy(dbranch, dres);
    backend_.dropout_backward(dbranch, shape_.dropout, dropout_site_seed(l, kMlpDropout));
    dmlp = dbranch;
  }
  const bool from_residual = bias_grads_from_residual();
  const Tensor none;
  // The fc layer's bias gradient, the column sums of d fc, is taken where d fc is made.
  backend_.matmul_gelu_backward(dfc, g.out_weight, from_residual ? none : g.out_bias, dmlp,
                                rows(a.fc_gelu, {N, F}), rows(a.fc, {N, F}), w.out_weight, g.fc_bias, write);
  backend_.matmul_backward(dtmp, g.fc_weight, none, dfc, rows(a.ln2, {N, C}), w.fc_weight, write);
  backend_.layernorm_backward(dres, g.ln2_weight, g.ln2_bias, dtmp, mid, w.ln2_weight, rows(a.ln2_mean, {N}),
                              rows(a.ln2_rstd, {N}), /*add_to_dinp=*/true, from_residual ? g.proj_bias : none,
                              write);  // dres now holds d mid

  // Attention: mid = x + dropout(W_proj Attn(rotary(W_qkv LN1(x)))).
  Tensor dattn_out = dres;
  if (dropout) {
    backend_.copy(dbranch, dres);
    backend_.dropout_backward(dbranch, shape_.dropout, dropout_site_seed(l, kAttentionDropout));
    dattn_out = dbranch;
  }
  Tensor att = rows(a.att, {B, T, C}), datt = rows(lnf_, {B, T, C});  // lnf_ is free here
  Tensor qkv = rows(a.qkv, {B, T, 3, H, shape_.head_dim()});
  Tensor dqkv = rows(d_qkv_, {B, T, 3, H, shape_.head_dim()});
  backend_.matmul_backward(datt.view({N, C}), g.proj_weight, from_residual ? none : g.proj_bias, dattn_out,
                           att.view({N, C}), w.proj_weight, write);
  // The qkv bias's gradient from the attention's backward (Backend::attention_backward:
  // no pass over dqkv), where no rotation lies between the product and the attention.
  const bool rotary = shape_.position == PositionMethod::Rotary;
  backend_.attention_backward(dqkv, datt, qkv, att, rows(a.lse, {B, H, T}), slopes_, attention_shape(B, T),
                              rotary ? none : g.qkv_bias, write);
  if (rotary) backend_.rotary_backward(dqkv, shape_.rotary_base);
  backend_.matmul_backward(dtmp, g.qkv_weight, rotary ? g.qkv_bias : none, dqkv.view({N, 3 * C}),
                           rows(a.ln1, {N, C}), w.qkv_weight, write);
  backend_.layernorm_backward(dres, g.ln1_weight, g.ln1_bias, dtmp, xr, w.ln1_weight, rows(a.ln1_mean, {N}),
                              rows(a.ln1_rstd, {N}), /*add_to_dinp=*/true,
                              from_residual && l > 0 ? grads_.blocks[l - 1].out_bias : none, write);  // dres: d x
}

void Model::embed_backward(const Tensor& dx0, int64_t B, int64_t T, GradWrite write) {
  const int64_t C = shape_.d_model, N = B * T;
  if (shape_.dropout > 0.f)
    backend_.dropout_backward(dx0, shape_.dropout, dropout_site_seed(-1, kEmbeddingDropout));
  Tensor dres = dx0;  // the gradient of the sum of embeddings
  if (shape_.embed_layernorm) {
    dres = rows(d_scratch_, {N, C});
    backend_.layernorm_backward(dres, grads_.embed_ln_weight, grads_.embed_ln_bias, dx0.view({N, C}),
                                rows(embed_raw_, {N, C}), weights_.embed_ln_weight, rows(embed_mean_, {N}),
                                rows(embed_rstd_, {N}), /*add_to_dinp=*/false, Tensor{}, write);
  }
  if (shape_.position == PositionMethod::Learned)
    backend_.learned_position_backward(grads_.wpe, dres.view({B, T, C}), write);
  if (shape_.position == PositionMethod::Sinusoidal) backend_.scale(dres, sinusoidal_embedding_scale());
  // Adds to what the LM head wrote in the forward.
  backend_.embedding_backward(grads_.wte, dres.view({B * T, C}), rows(tokens_, {B * T}));
}

void Model::backward(const GradsReadyHook& grads_ready) {
  // Offsets are looked up only when someone listens.
  auto ready_through = [&](int64_t layer) {
    if (grads_ready) grads_ready(first_grad_offset_of_layer(layer));
  };
  if (!last_training_) throw std::logic_error("backward() needs a preceding forward(training=true)");
  backward_pending_ = false;
  const GradWrite write = body_grads_cleared_ ? GradWrite::Overwrite : GradWrite::Accumulate;
  const int64_t B = last_B_, T = last_T_, C = shape_.d_model, N = B * T;
  // Final LayerNorm: the forward took the LM head's gradients (dlnf, and
  // wte's) chunk by chunk. x_L is the last block's output.
  Tensor x_last = rows(blocks_.back().residual_out, {N, C});
  Tensor dlnf = rows(d_scratch_, {N, C}), dres = rows(d_residual_, {N, C});
  backend_.layernorm_backward(dres, grads_.lnf_weight, grads_.lnf_bias, dlnf, x_last, weights_.lnf_weight,
                              rows(lnf_mean_, {N}), rows(lnf_rstd_, {N}), /*add_to_dinp=*/false,
                              bias_grads_from_residual() ? grads_.blocks.back().out_bias : Tensor{}, write);
  ready_through(shape_.n_layer);

  for (int64_t l = shape_.n_layer - 1; l >= 0; --l) {
    Tensor x = l == 0 ? rows(embedded_, {N, C}) : rows(blocks_[l - 1].residual_out, {N, C});
    block_backward(l, x, dres, B, T, write);
    ready_through(l);
  }
  embed_backward(dres, B, T, write);
  ready_through(-1);
  body_grads_cleared_ = false;
}

// Layer n_layer is the final norm, -1 the embeddings (at offset 0).
int64_t Model::first_grad_offset_of_layer(int64_t layer) const {
  if (layer < 0) return 0;
  const std::string prefix = layer == shape_.n_layer ? "lnf." : "blocks." + std::to_string(layer) + ".";
  for (const ParamSpec& spec : layout_)
    if (spec.name.rfind(prefix, 0) == 0) return spec.offset;
  throw std::logic_error("no parameter named " + prefix + "*");
}

}  // namespace alibi
