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

void ArgCheck::floating(const Tensor& t, const char* op, const char* arg) const {
  on_device(t, op, arg);
  if (t.dtype != DType::F32 && t.dtype != working_)
    fail(op, std::string(arg) + " " + t.describe() + " must be f32" +
                 (working_ != DType::F32 ? std::string(" or ") + dtype_name(working_) : std::string()));
}

}  // namespace alibi
