#include "model/kv_cache.h"

#include <atomic>
#include <stdexcept>
#include <string>

namespace alibi {

size_t KvCache::bytes_for(const ModelShape& shape, DType dtype, int64_t rows, int64_t capacity) {
  // Keys and values of every layer.
  return static_cast<size_t>(2 * shape.n_layer * rows * capacity * shape.d_model) * dtype_size(dtype);
}

static uint64_t next_cache_id() {
  static std::atomic<uint64_t> last{0};
  return ++last;
}

KvCache::KvCache(Backend& backend, const ModelShape& shape, int64_t rows, int64_t capacity)
    : backend_(backend), id_(next_cache_id()), rows_(rows), capacity_(capacity), n_head_(shape.n_head),
      head_dim_(shape.head_dim()), lengths_(static_cast<size_t>(rows), 0) {
  if (rows < 1 || capacity < 1) throw std::invalid_argument("a KV cache needs at least one row and position");
  const DType dtype = backend.activation_dtype();
  buffer_ = backend.allocate(bytes_for(shape, dtype, rows, capacity));
  const int64_t per_tensor = rows * n_head_ * capacity * head_dim_;
  char* base = static_cast<char*>(buffer_->data());
  for (int64_t l = 0; l < shape.n_layer; ++l) {
    keys_.emplace_back(base + (2 * l) * per_tensor * dtype_size(dtype), std::vector<int64_t>{rows, n_head_, capacity, head_dim_},
                       dtype, backend.device());
    values_.emplace_back(base + (2 * l + 1) * per_tensor * dtype_size(dtype),
                         std::vector<int64_t>{rows, n_head_, capacity, head_dim_}, dtype, backend.device());
  }
  positions_buffer_ = backend.allocate(2 * static_cast<size_t>(rows) * sizeof(int32_t));
  starts_device_ = Tensor(positions_buffer_->data(), {rows}, DType::I32, backend.device());
  lengths_device_ = Tensor(static_cast<int32_t*>(positions_buffer_->data()) + rows, {rows}, DType::I32,
                           backend.device());
}

void KvCache::check_rows(int64_t first, int64_t count) const {
  if (first < 0 || count < 1 || first + count > rows_)
    throw std::out_of_range("KV cache rows [" + std::to_string(first) + ", " + std::to_string(first + count) +
                            ") outside its " + std::to_string(rows_));
}

Tensor KvCache::slice(const Tensor& all, int64_t first, int64_t count) const {
  check_rows(first, count);
  const int64_t row = n_head_ * capacity_ * head_dim_;
  return Tensor(static_cast<char*>(all.data) + first * row * dtype_size(all.dtype),
                {count, n_head_, capacity_, head_dim_}, all.dtype, all.device);
}

Tensor KvCache::keys(int64_t layer, int64_t first, int64_t count) const { return slice(keys_.at(layer), first, count); }
Tensor KvCache::values(int64_t layer, int64_t first, int64_t count) const {
  return slice(values_.at(layer), first, count);
}

KvCache::Positions KvCache::append(int64_t first, int64_t count, int64_t added) {
  check_rows(first, count);
  for (int64_t b = first; b < first + count; ++b)
    if (lengths_[b] + added > capacity_)
      throw std::length_error("KV cache row " + std::to_string(b) + " is full: " + std::to_string(lengths_[b]) +
                              " + " + std::to_string(added) + " positions pass its capacity of " +
                              std::to_string(capacity_) + " (raise --max-length)");
  auto part = [&](const Tensor& all) {
    return Tensor(static_cast<int32_t*>(all.data) + first, {count}, DType::I32, all.device);
  };
  const bool on_device = added == 1 && ahead_.first == first && ahead_.count == count;
  ahead_ = {};
  if (on_device) {
    for (int64_t b = first; b < first + count; ++b) lengths_[b] += 1;
    return {Tensor(), part(lengths_device_)};
  }
  Positions p{part(starts_device_), part(lengths_device_)};
  backend_.upload(p.starts, lengths_.data() + first);
  for (int64_t b = first; b < first + count; ++b) lengths_[b] += static_cast<int32_t>(added);
  backend_.upload(p.lengths, lengths_.data() + first);
  return p;
}

void KvCache::advanced_on_device(int64_t first, int64_t count) {
  check_rows(first, count);
  ahead_ = {first, count};
}

void KvCache::truncate(int64_t first, int64_t count, int32_t length) {
  check_rows(first, count);
  ahead_ = {};  // the next append uploads the lengths it uses
  for (int64_t b = first; b < first + count; ++b) {
    if (length < 0 || length > lengths_[b])
      throw std::out_of_range("KV cache row " + std::to_string(b) + " holds " + std::to_string(lengths_[b]) +
                              " positions; it cannot be cut to " + std::to_string(length));
    lengths_[b] = length;
  }
}

}  // namespace alibi
