// The contract of each Backend op (backend.h): which argument has which
// shape, dtype and layout. Both backends call these before their kernels, so
// a contract is written once; the CPU's working dtype is f32, CUDA's bf16.
#include "backend/arg_check.h"

#include <string>

namespace alibi {

// ---- shared pieces -----------------------------------------------------------

std::pair<int64_t, int64_t> ArgCheck::weight_dims(const Tensor& w, const char* op) const {
  tensor(w, working_, op, "weight");
  if (w.rank() != 2) fail(op, "weight " + w.describe() + " must be [OC,C]");
  return {w.dim(0), w.dim(1)};
}

void ArgCheck::attention_inputs(const Tensor& qkv, const Tensor& slopes, const AttentionShape& s,
                                const char* op) const {
  if (s.B <= 0 || s.T <= 0 || s.H <= 0 || s.D <= 0) fail(op, "attention shape must be positive");
  flat(qkv, working_, s.B * s.T * 3 * s.H * s.D, op, "qkv [B,T,3,H,D]");
  shape(slopes, DType::F32, {s.H}, op, "slopes");
}

// Position ops need the sequence structure: x must be [B,T,C].
SequenceDims ArgCheck::sequence(const Tensor& x, const char* op, const char* arg) const {
  tensor(x, working_, op, arg);
  if (x.rank() != 3) fail(op, std::string(arg) + " " + x.describe() + " must be [B,T,C]");
  return {x.dim(0), x.dim(1), x.dim(2)};
}

void ArgCheck::position_table(const Tensor& wpe, DType dtype, const SequenceDims& s, const char* op,
                              const char* arg) const {
  tensor(wpe, dtype, op, arg);
  if (wpe.rank() != 2 || wpe.dim(1) != s.C || wpe.dim(0) < s.T)
    fail(op, std::string(arg) + " " + wpe.describe() + " must be [T_max >= " + std::to_string(s.T) + ", " +
                 std::to_string(s.C) + "]");
}

// ---- embedding and positions ---------------------------------------------------

EmbeddingDims ArgCheck::embedding_forward(const Tensor& out, const Tensor& tokens, const Tensor& wte) const {
  const char* op = "embedding_forward";
  tensor(wte, working_, op, "wte");
  if (wte.rank() != 2) fail(op, "wte must be [V,C]");
  const int64_t V = wte.dim(0), C = wte.dim(1);
  const int64_t N = rows(out, working_, C, op, "out");
  flat(tokens, DType::I32, N, op, "tokens");
  return {N, V, C};
}

EmbeddingDims ArgCheck::embedding_backward(const Tensor& dwte, const Tensor& dout, const Tensor& tokens) const {
  const char* op = "embedding_backward";
  tensor(dwte, DType::F32, op, "dwte");
  if (dwte.rank() != 2) fail(op, "dwte must be [V,C]");
  const int64_t V = dwte.dim(0), C = dwte.dim(1);
  const int64_t N = rows(dout, working_, C, op, "dout");
  flat(tokens, DType::I32, N, op, "tokens");
  return {N, V, C};
}

SequenceDims ArgCheck::learned_position_forward(const Tensor& x, const Tensor& wpe) const {
  const char* op = "learned_position_forward";
  const SequenceDims s = sequence(x, op, "x");
  position_table(wpe, working_, s, op, "wpe");
  return s;
}

SequenceDims ArgCheck::learned_position_backward(const Tensor& dwpe, const Tensor& dout) const {
  const char* op = "learned_position_backward";
  const SequenceDims s = sequence(dout, op, "dout");
  position_table(dwpe, DType::F32, s, op, "dwpe");
  return s;
}

SequenceDims ArgCheck::sinusoidal_position_forward(const Tensor& x) const {
  return sequence(x, "sinusoidal_position_forward", "x");
}

void ArgCheck::rotary(const Tensor& qkv, const char* op) const {
  tensor(qkv, working_, op, "qkv");
  if (qkv.rank() != 5 || qkv.dim(2) != 3) fail(op, "qkv " + qkv.describe() + " must be [B,T,3,H,D]");
  if (qkv.dim(4) % 2 != 0) fail(op, "head dim must be even, got " + std::to_string(qkv.dim(4)));
}

// ---- layernorm -------------------------------------------------------------------

RowDims ArgCheck::layernorm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& inp,
                                    const Tensor& weight, const Tensor& bias) const {
  const char* op = "layernorm_forward";
  tensor(weight, working_, op, "weight");
  const int64_t C = weight.numel();
  const int64_t N = rows(inp, working_, C, op, "inp");
  rows_equal(rows(out, working_, C, op, "out"), N, op, "out");
  shape(bias, working_, {C}, op, "bias");
  flat(mean, DType::F32, N, op, "mean");
  flat(rstd, DType::F32, N, op, "rstd");
  return {N, C};
}

RowDims ArgCheck::layernorm_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dbias,
                                     const Tensor& dout, const Tensor& inp, const Tensor& weight, const Tensor& mean,
                                     const Tensor& rstd, bool add_to_dinp, const Tensor& dinp_sums) const {
  const char* op = "layernorm_backward";
  tensor(weight, working_, op, "weight");
  const int64_t C = weight.numel();
  const int64_t N = rows(inp, working_, C, op, "inp");
  rows_equal(rows(dinp, working_, C, op, "dinp"), N, op, "dinp");
  rows_equal(rows(dout, working_, C, op, "dout"), N, op, "dout");
  if (add_to_dinp && dinp.data == dout.data) fail(op, "dinp must not alias dout when accumulating");
  shape(dweight, DType::F32, {C}, op, "dweight");
  shape(dbias, DType::F32, {C}, op, "dbias");
  if (!dinp_sums.empty()) shape(dinp_sums, DType::F32, {C}, op, "dinp_sums");
  flat(mean, DType::F32, N, op, "mean");
  flat(rstd, DType::F32, N, op, "rstd");
  return {N, C};
}

// ---- matmul ----------------------------------------------------------------------

MatmulDims ArgCheck::matmul_forward(const Tensor& out, const Tensor& inp, const Tensor& weight,
                                    const Tensor& bias) const {
  const char* op = "matmul_forward";
  const auto [OC, C] = weight_dims(weight, op);
  const int64_t N = rows(inp, working_, C, op, "inp");
  rows_equal(rows(out, working_, OC, op, "out"), N, op, "out");
  if (!bias.empty()) shape(bias, working_, {OC}, op, "bias");
  return {N, C, OC};
}

MatmulDims ArgCheck::matmul_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dbias,
                                     const Tensor& dout, const Tensor& inp, const Tensor& weight) const {
  const char* op = "matmul_backward";
  const auto [OC, C] = weight_dims(weight, op);
  shape(dweight, DType::F32, {OC, C}, op, "dweight");
  const int64_t N = rows(inp, working_, C, op, "inp");
  rows_equal(rows(dout, working_, OC, op, "dout"), N, op, "dout");
  if (!dinp.empty()) rows_equal(rows(dinp, working_, C, op, "dinp"), N, op, "dinp");
  if (!dbias.empty()) shape(dbias, DType::F32, {OC}, op, "dbias");
  return {N, C, OC};
}

MatmulDims ArgCheck::matmul_residual_forward(const Tensor& out, const Tensor& inp, const Tensor& weight,
                                             const Tensor& bias, const Tensor& residual) const {
  const char* op = "matmul_residual_forward";
  const auto [OC, C] = weight_dims(weight, op);
  const int64_t N = rows(inp, working_, C, op, "inp");
  rows_equal(rows(out, working_, OC, op, "out"), N, op, "out");
  rows_equal(rows(residual, working_, OC, op, "residual"), N, op, "residual");
  if (out.data == residual.data) fail(op, "out must not alias residual");
  if (!bias.empty()) shape(bias, working_, {OC}, op, "bias");
  return {N, C, OC};
}

MatmulDims ArgCheck::matmul_gelu_forward(const Tensor& out, const Tensor& pre, const Tensor& inp,
                                         const Tensor& weight, const Tensor& bias) const {
  const char* op = "matmul_gelu_forward";
  const auto [OC, C] = weight_dims(weight, op);
  const int64_t N = rows(inp, working_, C, op, "inp");
  rows_equal(rows(out, working_, OC, op, "out"), N, op, "out");
  rows_equal(rows(pre, working_, OC, op, "pre"), N, op, "pre");
  if (!bias.empty()) shape(bias, working_, {OC}, op, "bias");
  return {N, C, OC};
}

MatmulDims ArgCheck::matmul_gelu_backward(const Tensor& dpre, const Tensor& dweight, const Tensor& dbias,
                                          const Tensor& dout, const Tensor& inp, const Tensor& pre,
                                          const Tensor& weight, const Tensor& dpre_sums) const {
  const char* op = "matmul_gelu_backward";
  const auto [OC, C] = weight_dims(weight, op);
  shape(dweight, DType::F32, {OC, C}, op, "dweight");
  const int64_t N = rows(inp, working_, C, op, "inp");
  rows_equal(rows(dout, working_, OC, op, "dout"), N, op, "dout");
  rows_equal(rows(dpre, working_, C, op, "dpre"), N, op, "dpre");
  rows_equal(rows(pre, working_, C, op, "pre"), N, op, "pre");
  if (!dbias.empty()) shape(dbias, DType::F32, {OC}, op, "dbias");
  if (!dpre_sums.empty()) shape(dpre_sums, DType::F32, {C}, op, "dpre_sums");
  return {N, C, OC};
}

// ---- attention -----------------------------------------------------------------

void ArgCheck::attention_forward(const Tensor& out, const Tensor& lse, const Tensor& qkv, const Tensor& slopes,
                                 const AttentionShape& s) const {
  const char* op = "attention_forward";
  attention_inputs(qkv, slopes, s, op);
  flat(out, working_, s.B * s.T * s.H * s.D, op, "out [B,T,C]");
  if (!lse.empty()) flat(lse, DType::F32, s.B * s.H * s.T, op, "lse [B,H,T]");
}

void ArgCheck::attention_backward(const Tensor& dqkv, const Tensor& dout, const Tensor& qkv, const Tensor& out,
                                  const Tensor& lse, const Tensor& slopes, const AttentionShape& s,
                                  const Tensor& dqkv_sums) const {
  const char* op = "attention_backward";
  attention_inputs(qkv, slopes, s, op);
  like(dqkv, qkv, op, "dqkv");
  flat(out, working_, s.B * s.T * s.H * s.D, op, "out [B,T,C]");
  like(dout, out, op, "dout");
  flat(lse, DType::F32, s.B * s.H * s.T, op, "lse [B,H,T]");
  if (!dqkv_sums.empty()) flat(dqkv_sums, DType::F32, 3 * s.H * s.D, op, "dqkv_sums [3C]");
}

void ArgCheck::kv_caches(const Tensor& k_cache, const Tensor& v_cache, const KvCacheShape& s, int64_t T,
                         const char* op) const {
  if (s.B <= 0 || s.H <= 0 || s.L <= 0 || s.D <= 0 || T <= 0) fail(op, "cache shape and length must be positive");
  flat(k_cache, working_, s.B * s.H * s.L * s.D, op, "k_cache [B,H,L,D]");
  flat(v_cache, working_, s.B * s.H * s.L * s.D, op, "v_cache [B,H,L,D]");
}

void ArgCheck::kv_cache_write(const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv,
                              const Tensor& positions, int64_t T, const KvCacheShape& s) const {
  const char* op = "kv_cache_write";
  kv_caches(k_cache, v_cache, s, T, op);
  flat(qkv, working_, s.B * T * 3 * s.H * s.D, op, "qkv [B,T,3,H,D]");
  shape(positions, DType::I32, {s.B}, op, "positions [B]");
}

void ArgCheck::attention_decode(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                                const Tensor& lengths, const Tensor& slopes, const KvCacheShape& s) const {
  const char* op = "attention_decode";
  kv_caches(k_cache, v_cache, s, 1, op);
  flat(qkv, working_, s.B * 3 * s.H * s.D, op, "qkv [B,1,3,H,D]");
  shape(lengths, DType::I32, {s.B}, op, "lengths [B]");
  flat(out, working_, s.B * s.H * s.D, op, "out [B,H*D]");
  shape(slopes, DType::F32, {s.H}, op, "slopes");
}

void ArgCheck::kv_cache_advance(const Tensor& lengths, int64_t added) const {
  const char* op = "kv_cache_advance";
  if (lengths.numel() < 1) fail(op, "lengths [B] needs at least one row");
  flat(lengths, DType::I32, lengths.numel(), op, "lengths [B]");
  if (added < 1) fail(op, "added must be at least 1, got " + std::to_string(added));
}

// ---- elementwise, loss, optimizer --------------------------------------------------

void ArgCheck::gelu_forward(const Tensor& out, const Tensor& inp) const {
  floating(inp, "gelu_forward", "inp");
  like(out, inp, "gelu_forward", "out");
}

void ArgCheck::gelu_backward(const Tensor& dinp, const Tensor& inp, const Tensor& dout) const {
  floating(inp, "gelu_backward", "inp");
  like(dinp, inp, "gelu_backward", "dinp");
  like(dout, inp, "gelu_backward", "dout");
}

void ArgCheck::add(const Tensor& out, const Tensor& a, const Tensor& b) const {
  floating(a, "add", "a");
  like(b, a, "add", "b");
  like(out, a, "add", "out");
}

void ArgCheck::scale(const Tensor& x) const { floating(x, "scale", "x"); }

void ArgCheck::dropout(const Tensor& x, float p, const char* op) const {
  floating(x, op, "x");
  if (!(p >= 0.f && p <= 1.f)) fail(op, "p must be in [0, 1], got " + std::to_string(p));
}

LogitDims ArgCheck::cross_entropy(const Tensor& losses, const Tensor& logits, const Tensor& targets) const {
  const char* op = "cross_entropy";
  tensor(logits, working_, op, "logits");
  if (logits.rank() < 1 || logits.dim(-1) <= 0) fail(op, "logits must be [N,V] with V > 0");
  const int64_t V = logits.dim(-1), N = logits.numel() / V;
  flat(losses, DType::F32, N, op, "losses");
  flat(targets, DType::I32, N, op, "targets");
  return {N, V};
}

LogitDims ArgCheck::argmax(const Tensor& tokens, const Tensor& logits, int64_t limit) const {
  const char* op = "argmax";
  tensor(logits, working_, op, "logits");
  if (logits.rank() < 1 || logits.dim(-1) <= 0) fail(op, "logits must be [N,V] with V > 0");
  const int64_t V = logits.dim(-1), N = logits.numel() / V;
  flat(tokens, DType::I32, N, op, "tokens");
  if (limit < 1 || limit > V) fail(op, "limit " + std::to_string(limit) + " outside [1, V = " + std::to_string(V) + "]");
  return {N, V};
}

int64_t ArgCheck::decode_step(const DecodeStepArgs& a) const {
  const char* op = "decode_step";
  const KvCacheShape& s = a.cache;
  const int64_t C = s.H * s.D, F = a.d_ff;
  if (a.layers.empty() || F <= 0) fail(op, "needs at least one layer and d_ff > 0");
  tensor(a.wte, working_, op, "wte");
  if (a.wte.rank() != 2 || a.wte.dim(1) != C) fail(op, "wte must be [V, H*D = " + std::to_string(C) + "]");
  const int64_t V = a.wte.dim(0);
  auto vector = [&](const Tensor& t, int64_t n, const char* arg) { shape(t, working_, {n}, op, arg); };
  auto matrix = [&](const Tensor& t, int64_t rows, int64_t cols, const char* arg) {
    shape(t, working_, {rows, cols}, op, arg);
  };
  if (!a.embed_ln_weight.empty() || !a.embed_ln_bias.empty()) {
    vector(a.embed_ln_weight, C, "embed_ln_weight");
    vector(a.embed_ln_bias, C, "embed_ln_bias");
  }
  vector(a.lnf_weight, C, "lnf_weight");
  vector(a.lnf_bias, C, "lnf_bias");
  for (const DecodeStepLayer& w : a.layers) {
    vector(w.ln1_weight, C, "ln1_weight");
    vector(w.ln1_bias, C, "ln1_bias");
    matrix(w.qkv_weight, 3 * C, C, "qkv_weight");
    vector(w.qkv_bias, 3 * C, "qkv_bias");
    matrix(w.proj_weight, C, C, "proj_weight");
    vector(w.proj_bias, C, "proj_bias");
    vector(w.ln2_weight, C, "ln2_weight");
    vector(w.ln2_bias, C, "ln2_bias");
    matrix(w.fc_weight, F, C, "fc_weight");
    vector(w.fc_bias, F, "fc_bias");
    matrix(w.out_weight, C, F, "out_weight");
    vector(w.out_bias, C, "out_bias");
    kv_caches(w.keys, w.values, s, 1, op);
  }
  shape(a.slopes, DType::F32, {s.H}, op, "slopes");
  shape(a.lengths, DType::I32, {s.B}, op, "lengths [B]");
  flat(a.tokens, DType::I32, s.B, op, "tokens [B]");
  flat(a.logits, working_, s.B * V, op, "logits [B,V]");
  if (a.greedy_limit < 0 || a.greedy_limit > V)
    fail(op, "greedy_limit " + std::to_string(a.greedy_limit) + " outside [0, V = " + std::to_string(V) + "]");
  return V;
}

void ArgCheck::sum_of_squares(const Tensor& out, const Tensor& t) const {
  shape(out, DType::F32, {1}, "sum_of_squares", "out");
  floating(t, "sum_of_squares", "t");
}

std::vector<DecayRun> ArgCheck::adamw_update(const AdamWArgs& args) const {
  const char* op = "adamw_update";
  tensor(args.param, DType::F32, op, "param");
  like(args.grad, args.param, op, "grad");
  like(args.m, args.param, op, "m");
  like(args.v, args.param, op, "v");
  if (!args.param_working.empty()) flat(args.param_working, working_, args.param.numel(), op, "param_working");
  if (!args.grad_norm_sq.empty()) shape(args.grad_norm_sq, DType::F32, {1}, op, "grad_norm_sq");
  if (args.step < 1) fail(op, "step is 1-based, got " + std::to_string(args.step));
  const int64_t n = args.param.numel();
  if (args.decay_runs.empty()) return {{n, args.weight_decay}};
  int64_t previous = 0;
  for (const DecayRun& run : args.decay_runs) {
    if (run.end < previous) fail(op, "decay runs must be in ascending order");
    previous = run.end;
  }
  if (previous != n)
    fail(op, "decay runs end at " + std::to_string(previous) + ", not at the update's " + std::to_string(n) +
                 " elements");
  return args.decay_runs;
}

}  // namespace alibi
