// The keys and values of every layer for generation: rows of up to
// `capacity` positions, allocated once, up front (the memory a generation
// needs is known before its first token). Row b's first length(b) positions
// are filled; Model::forward_cached appends to them.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "model/params.h"

namespace alibi {

class KvCache {
 public:
  KvCache(Backend& backend, const ModelShape& shape, int64_t rows, int64_t capacity);

  // Bytes a cache of rows x capacity takes for this model.
  static size_t bytes_for(const ModelShape& shape, DType dtype, int64_t rows, int64_t capacity);

  // Unique in the process: tells this cache from a later one at the same address.
  uint64_t id() const { return id_; }
  int64_t rows() const { return rows_; }
  int64_t capacity() const { return capacity_; }
  int32_t length(int64_t row) const { return lengths_[static_cast<size_t>(row)]; }

  // Layer l's keys and values of rows [first, first + count): [count,H,L,D].
  Tensor keys(int64_t layer, int64_t first, int64_t count) const;
  Tensor values(int64_t layer, int64_t first, int64_t count) const;
  KvCacheShape shape_of(int64_t count) const { return {count, n_head_, capacity_, head_dim_}; }

  // Where `added` new positions of rows [first, first + count) go, on the
  // device: starts (the lengths before) and lengths (after). Advances the
  // rows; throws, naming the row, when one would pass the capacity.
  // Both are uploaded (a round trip to the device), except after
  // advanced_on_device for the same rows and one position: then the device
  // holds the lengths already and starts comes back empty (a decode step
  // reads only the lengths).
  struct Positions {
    Tensor starts, lengths;  // i32 [count]
  };
  Positions append(int64_t first, int64_t count, int64_t added);
  // The step that appended one position to rows [first, first + count) has
  // also advanced their device lengths by one (Backend::kv_cache_advance,
  // after its last read of them), to those of the next such step.
  void advanced_on_device(int64_t first, int64_t count);
  // Forgets all but the first `length` positions of rows [first, first +
  // count) (a shared prompt kept, what came after it dropped); throws when a
  // row holds fewer.
  void truncate(int64_t first, int64_t count, int32_t length);

 private:
  void check_rows(int64_t first, int64_t count) const;  // [first, first + count) within the rows
  Tensor slice(const Tensor& all, int64_t first, int64_t count) const;

  Backend& backend_;
  uint64_t id_;
  int64_t rows_, capacity_, n_head_, head_dim_;
  std::vector<int32_t> lengths_;
  std::unique_ptr<Buffer> buffer_, positions_buffer_;
  std::vector<Tensor> keys_, values_;  // per layer, [rows,H,L,D]
  Tensor starts_device_, lengths_device_;
  // Rows whose device lengths are the host's plus one (advanced_on_device);
  // count 0: none, the device's lengths are the host's.
  struct RowRange {
    int64_t first = 0, count = 0;
  };
  RowRange ahead_;
};

}  // namespace alibi
