// Argument checks shared by the backends. Every failure throws
// std::invalid_argument naming the backend, the op and the argument, e.g.
// "cuda layernorm_forward: weight f32[768]@cuda must be bf16".
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "core/tensor.h"

namespace alibi {

// Dimensions the contracts read off their arguments.
struct EmbeddingDims {
  int64_t N, V, C;
};
struct SequenceDims {  // x [B,T,C]
  int64_t B, T, C;
};
struct RowDims {  // N rows of C
  int64_t N, C;
};
struct MatmulDims {  // out[N,OC] = inp[N,C] W[OC,C]^T
  int64_t N, C, OC;
};
struct LogitDims {  // logits [N,V]
  int64_t N, V;
};

class ArgCheck {
 public:
  // `working`: the backend's dtype of activations and working weights (f32 on
  // the CPU, bf16 on CUDA). Parameter gradients, statistics, slopes and the
  // optimizer state are f32 on both.
  ArgCheck(Device device, DType working) : device_(device), working_(working) {}

  // ---- primitives ----------------------------------------------------------
  [[noreturn]] void fail(const char* op, const std::string& message) const;
  // Non-empty and on this backend's device.
  void on_device(const Tensor& t, const char* op, const char* arg) const;
  // On the device, with this dtype.
  void tensor(const Tensor& t, DType dtype, const char* op, const char* arg) const;
  // ... and exactly this shape.
  void shape(const Tensor& t, DType dtype, std::initializer_list<int64_t> shape, const char* op,
             const char* arg) const;
  // ... and `numel` elements, whatever the shape.
  void flat(const Tensor& t, DType dtype, int64_t numel, const char* op, const char* arg) const;
  // Row-major ops accept any leading dims ([B,T,C] or [N,C]): the last dim
  // must be `cols`; returns the number of rows.
  int64_t rows(const Tensor& t, DType dtype, int64_t cols, const char* op, const char* arg) const;
  void rows_equal(int64_t rows, int64_t expected, const char* op, const char* arg) const;
  // The dtype and element count of `like`.
  void like(const Tensor& t, const Tensor& like, const char* op, const char* arg) const;
  // Elementwise ops take f32 or the working dtype.
  void floating(const Tensor& t, const char* op, const char* arg) const;

  // ---- the contract of each Backend op (backend.h), one function an op ------
  // (backend/op_contracts.cpp). Each names the op in its messages.
  EmbeddingDims embedding_forward(const Tensor& out, const Tensor& tokens, const Tensor& wte) const;
  EmbeddingDims embedding_backward(const Tensor& dwte, const Tensor& dout, const Tensor& tokens) const;
  SequenceDims learned_position_forward(const Tensor& x, const Tensor& wpe) const;
  SequenceDims learned_position_backward(const Tensor& dwpe, const Tensor& dout) const;
  SequenceDims sinusoidal_position_forward(const Tensor& x) const;
  // qkv [B,T,3,H,D], D even; op: rotary_forward or rotary_backward.
  void rotary(const Tensor& qkv, const char* op) const;
  RowDims layernorm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& inp,
                            const Tensor& weight, const Tensor& bias) const;
  RowDims layernorm_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dbias, const Tensor& dout,
                             const Tensor& inp, const Tensor& weight, const Tensor& mean, const Tensor& rstd,
                             bool add_to_dinp, const Tensor& dinp_sums) const;
  MatmulDims matmul_forward(const Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor& bias) const;
  MatmulDims matmul_backward(const Tensor& dinp, const Tensor& dweight, const Tensor& dbias, const Tensor& dout,
                             const Tensor& inp, const Tensor& weight) const;
  MatmulDims matmul_residual_forward(const Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor& bias,
                                     const Tensor& residual) const;
  MatmulDims matmul_gelu_forward(const Tensor& out, const Tensor& pre, const Tensor& inp, const Tensor& weight,
                                 const Tensor& bias) const;
  MatmulDims matmul_gelu_backward(const Tensor& dpre, const Tensor& dweight, const Tensor& dbias, const Tensor& dout,
                                  const Tensor& inp, const Tensor& pre, const Tensor& weight,
                                  const Tensor& dpre_sums) const;
  void attention_forward(const Tensor& out, const Tensor& lse, const Tensor& qkv, const Tensor& slopes,
                         const AttentionShape& s) const;
  void attention_backward(const Tensor& dqkv, const Tensor& dout, const Tensor& qkv, const Tensor& out,
                          const Tensor& lse, const Tensor& slopes, const AttentionShape& s,
                          const Tensor& dqkv_sums) const;
  // The generation ops (backend.h): a positive shape, both caches [B,H,L,D]
  // and qkv [B,T,3,H,D] in the working dtype, positions [B] i32 ...
  void kv_cache_write(const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv, const Tensor& positions,
                      int64_t T, const KvCacheShape& s) const;
  // ... and attention_decode's: out [B,H*D] in the working dtype, slopes [H] f32.
  void attention_decode(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                        const Tensor& lengths, const Tensor& slopes, const KvCacheShape& s) const;
  // ... and kv_cache_advance's: lengths [B] i32, B >= 1, added >= 1.
  void kv_cache_advance(const Tensor& lengths, int64_t added) const;
  void gelu_forward(const Tensor& out, const Tensor& inp) const;
  void gelu_backward(const Tensor& dinp, const Tensor& inp, const Tensor& dout) const;
  void add(const Tensor& out, const Tensor& a, const Tensor& b) const;
  void scale(const Tensor& x) const;
  // op: dropout_forward or dropout_backward.
  void dropout(const Tensor& x, float p, const char* op) const;
  LogitDims cross_entropy(const Tensor& losses, const Tensor& logits, const Tensor& targets) const;
  // tokens [N] i32 for logits [N,V] in the working dtype, 1 <= limit <= V.
  LogitDims argmax(const Tensor& tokens, const Tensor& logits, int64_t limit) const;
  // ... and decode_step's: every tensor of args in its shape; returns V.
  int64_t decode_step(const DecodeStepArgs& args) const;
  void sum_of_squares(const Tensor& out, const Tensor& t) const;
  // adamw_update's contract: f32 param, grad, m and v alike, the working
  // copy (optional) in the working dtype with param's count, a 1-based step,
  // grad_norm_sq (optional) f32 [1], decay runs ascending and ending at
  // param's count. Returns the runs the update applies (one run of
  // weight_decay where none are given).
  std::vector<DecayRun> adamw_update(const AdamWArgs& args) const;

 private:
  // weight [OC,C] in the working dtype.
  std::pair<int64_t, int64_t> weight_dims(const Tensor& w, const char* op) const;
  void attention_inputs(const Tensor& qkv, const Tensor& slopes, const AttentionShape& s, const char* op) const;
  SequenceDims sequence(const Tensor& x, const char* op, const char* arg) const;
  // Both caches [B,H,L,D] in the working dtype, of a positive shape; T new positions.
  void kv_caches(const Tensor& k_cache, const Tensor& v_cache, const KvCacheShape& s, int64_t T, const char* op) const;
  void position_table(const Tensor& wpe, DType dtype, const SequenceDims& s, const char* op, const char* arg) const;

  Device device_;
  DType working_;
};

}  // namespace alibi
