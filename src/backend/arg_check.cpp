#include "backend/arg_check.h"

#include <stdexcept>

namespace alibi {

void ArgCheck::fail(const char* op, const std::string& message) const {
  throw std::invalid_argument(std::string(device_name(device_)) + " " + op + ": " + message);
}

void ArgCheck::on_device(const Tensor& t, const char* op, const char* arg) const {
  if (t.empty()) fail(op, std::string(arg) + " is empty");
  if (t.device != device_)
    fail(op, std::string(arg) + " " + t.describe() + " is not on the " + device_name(device_));
}

void ArgCheck::tensor(const Tensor& t, DType dtype, const char* op, const char* arg) const {
  on_device(t, op, arg);
  if (t.dtype != dtype) fail(op, std::string(arg) + " " + t.describe() + " must be " + dtype_name(dtype));
}

void ArgCheck::shape(const Tensor& t, DType dtype, std::initializer_list<int64_t> shape, const char* op,
                     const char* arg) const {
  tensor(t, dtype, op, arg);
  check_shape(t, shape, (std::string(device_name(device_)) + " " + op + ": " + arg).c_str());
}

void ArgCheck::flat(const Tensor& t, DType dtype, int64_t numel, const char* op, const char* arg) const {
  shape(t.view({t.numel()}), dtype, {numel}, op, arg);
}

int64_t ArgCheck::rows(const Tensor& t, DType dtype, int64_t cols, const char* op, const char* arg) const {
  tensor(t, dtype, op, arg);
  if (cols <= 0) fail(op, std::string(arg) + ": row width must be positive");
  if (t.rank() < 1 || t.dim(-1) != cols)
    fail(op, std::string(arg) + " " + t.describe() + " must have last dim " + std::to_string(cols));
  return t.numel() / cols;
}

void ArgCheck::rows_equal(int64_t rows, int64_t expected, const char* op, const char* arg) const {
  if (rows != expected)
    fail(op, std::string(arg) + " has " + std::to_string(rows) + " rows, expected " + std::to_string(expected));
}

void ArgCheck::like(const Tensor& t, const Tensor& like, const char* op, const char* arg) const {
  tensor(t, like.dtype, op, arg);
  if (t.numel() != like.numel())
    fail(op, std::string(arg) + " " + t.describe() + " does not match " + like.describe());
}

void ArgCheck::kv_cache(const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv, const Tensor& positions,
                        int64_t T, const KvCacheShape& s, DType dtype, const char* op) const {
  if (s.B <= 0 || s.H <= 0 || s.L <= 0 || s.D <= 0 || T <= 0) fail(op, "cache shape and length must be positive");
  flat(k_cache, dtype, s.B * s.H * s.L * s.D, op, "k_cache [B,H,L,D]");
  flat(v_cache, dtype, s.B * s.H * s.L * s.D, op, "v_cache [B,H,L,D]");
  flat(qkv, dtype, s.B * T * 3 * s.H * s.D, op, "qkv [B,T,3,H,D]");
  shape(positions, DType::I32, {s.B}, op, "positions [B]");
}

void ArgCheck::attention_decode(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                                const Tensor& lengths, const Tensor& slopes, const KvCacheShape& s, DType dtype,
                                const char* op) const {
  kv_cache(k_cache, v_cache, qkv, lengths, 1, s, dtype, op);
  flat(out, dtype, s.B * s.H * s.D, op, "out [B,H*D]");
  shape(slopes, DType::F32, {s.H}, op, "slopes");
}

std::vector<DecayRun> ArgCheck::adamw(const AdamWArgs& args, DType working_dtype, const char* op) const {
  tensor(args.param, DType::F32, op, "param");
  like(args.grad, args.param, op, "grad");
  like(args.m, args.param, op, "m");
  like(args.v, args.param, op, "v");
  if (!args.param_working.empty()) flat(args.param_working, working_dtype, args.param.numel(), op, "param_working");
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
