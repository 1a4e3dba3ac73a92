#include "core/tensor.h"

#include <sstream>

#include "core/checked_math.h"

namespace alibi {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::BF16: return 2;
    case DType::I32: return 4;
    case DType::U16: return 2;
  }
  throw std::logic_error("unknown dtype");
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "f32";
    case DType::BF16: return "bf16";
    case DType::I32: return "i32";
    case DType::U16: return "u16";
  }
  return "?";
}

const char* device_name(Device device) { return device == Device::CPU ? "cpu" : "cuda"; }

static std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
  return text + "]";
}

int64_t shape_numel(const std::vector<int64_t>& shape) {
  // Shapes may come from files (checkpoints): a product that does not fit
  // must fail, not wrap to a small, plausible size.
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw std::length_error("shape " + shape_text(shape) + " has a negative dimension");
    const std::optional<int64_t> product = checked_mul(n, d);
    if (!product) throw std::length_error("shape " + shape_text(shape) + " has more elements than fit in 64 bits");
    n = *product;
  }
  return n;
}

int64_t Tensor::numel() const { return shape_numel(shape); }

size_t Tensor::nbytes() const {
  const std::optional<size_t> bytes = checked_mul(static_cast<size_t>(numel()), dtype_size(dtype));
  if (!bytes) throw std::length_error("tensor " + describe() + " has more bytes than fit in 64 bits");
  return *bytes;
}

Tensor Tensor::view(std::vector<int64_t> new_shape) const {
  Tensor t(data, std::move(new_shape), dtype, device);
  if (t.numel() != numel())
    throw std::logic_error("cannot view " + describe() + " as " + t.describe());
  return t;
}

Tensor Tensor::range(int64_t begin, int64_t end) const {
  if (begin < 0 || begin > end || end > numel())
    throw std::logic_error("range [" + std::to_string(begin) + ", " + std::to_string(end) + ") out of " + describe());
  auto* bytes = static_cast<char*>(data) + begin * static_cast<int64_t>(dtype_size(dtype));
  return Tensor(bytes, {end - begin}, dtype, device);
}

std::string Tensor::describe() const {
  std::ostringstream s;
  s << dtype_name(dtype) << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? "," : "") << shape[i];
  s << "]@" << device_name(device);
  return s.str();
}

void check_shape(const Tensor& t, std::initializer_list<int64_t> shape, const char* what) {
  bool ok = t.shape.size() == shape.size();
  size_t i = 0;
  for (int64_t d : shape) ok = ok && t.shape[i++] == d;
  if (!ok) {
    Tensor expected(nullptr, shape, t.dtype, t.device);
    throw std::invalid_argument(std::string(what) + ": expected shape " + expected.describe() +
                                ", got " + t.describe());
  }
}

}  // namespace alibi
