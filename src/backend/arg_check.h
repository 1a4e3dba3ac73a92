// Argument checks shared by the backends. Every failure throws
// std::invalid_argument naming the backend, the op and the argument, e.g.
// "cuda layernorm_forward: weight f32[768]@cuda must be bf16".
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/tensor.h"

namespace alibi {

class ArgCheck {
 public:
  explicit ArgCheck(Device device) : device_(device) {}

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
  // The generation ops' common contract (backend.h): a positive shape, both
  // caches [B,H,L,D] and qkv [B,T,3,H,D] in `dtype`, positions [B] i32.
  void kv_cache(const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv, const Tensor& positions,
                int64_t T, const KvCacheShape& s, DType dtype, const char* op) const;
  // ... and attention_decode's: out [B,H*D] in `dtype`, slopes [H] f32.
  void attention_decode(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                        const Tensor& lengths, const Tensor& slopes, const KvCacheShape& s, DType dtype,
                        const char* op) const;
  // adamw_update's contract: f32 param, grad, m and v alike, the working
  // copy (optional) in `working_dtype` with param's count, a 1-based step,
  // grad_norm_sq (optional) f32 [1], decay runs ascending and ending at
  // param's count. Returns the runs the update applies (one run of
  // weight_decay where none are given).
  std::vector<DecayRun> adamw(const AdamWArgs& args, DType working_dtype, const char* op) const;

 private:
  Device device_;
};

}  // namespace alibi
