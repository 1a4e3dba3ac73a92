// A Tensor is a non-owning, typed view of a contiguous, row-major block of
// memory on one device. Memory is owned by a Buffer (see backend.h); the model
// carves its parameters and activations out of a few large buffers allocated
// once up front.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

namespace alibi {

enum class DType : uint8_t { F32 = 0, BF16 = 1, I32 = 2, U16 = 3 };
enum class Device : uint8_t { CPU = 0, CUDA = 1 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);
const char* device_name(Device device);

// The product of the dimensions; throws std::length_error for a negative
// dimension or a product beyond 64 bits.
int64_t shape_numel(const std::vector<int64_t>& shape);

struct Tensor {
  void* data = nullptr;
  std::vector<int64_t> shape;
  DType dtype = DType::F32;
  Device device = Device::CPU;

  Tensor() = default;
  Tensor(void* data, std::vector<int64_t> shape, DType dtype, Device device)
      : data(data), shape(std::move(shape)), dtype(dtype), device(device) {}

  bool empty() const { return data == nullptr; }
  int rank() const { return static_cast<int>(shape.size()); }
  int64_t dim(int i) const { return shape.at(i < 0 ? shape.size() + i : i); }
  // Both throw std::length_error for a negative dimension or a size beyond 64 bits.
  int64_t numel() const;
  size_t nbytes() const;

  // Typed access; throws when the dtype does not match.
  float* f32() const { return typed<float>(DType::F32); }
  int32_t* i32() const { return typed<int32_t>(DType::I32); }

  // The same memory seen with another shape of equal element count.
  Tensor view(std::vector<int64_t> new_shape) const;
  // Elements [begin, end) of this tensor's flat order, as a 1-D tensor.
  Tensor range(int64_t begin, int64_t end) const;

  std::string describe() const;  // e.g. "f32[8,128,256]@cpu"

 private:
  template <typename T>
  T* typed(DType expected) const {
    if (dtype != expected)
      throw std::logic_error("tensor " + describe() + " accessed as " + dtype_name(expected));
    return static_cast<T*>(data);
  }
};

// Throws std::invalid_argument naming `what` when `t` does not have `shape`.
void check_shape(const Tensor& t, std::initializer_list<int64_t> shape, const char* what);

}  // namespace alibi
