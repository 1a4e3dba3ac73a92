// The order in which a block of the fused decode step (decode_step.cu)
// streams its weights: every layer's four matrices, then the LM head, each
// block taking an equal share of each matrix's output rows (the last blocks'
// shares possibly short or empty), in chunks of at most a shared-memory slot.
// Compiled for the host too: tests/kernels/decode_step_schedule_test.cpp
// checks that the blocks' chunks cover every row exactly once, in order.
#pragma once

#include <cstdint>

#include "core/host_device.h"

namespace alibi::cuda {

// The matrices a decode step reads, in the order it reads them.
enum DecodeMatrix { kQkv, kProj, kFc, kOut, kMatricesPerLayer, kLmHead = kMatricesPerLayer };

struct DecodeMatrixShape {
  int64_t outputs, inputs;  // [outputs, inputs], an output's weights contiguous
};

ALIBI_HOST_DEVICE inline DecodeMatrixShape decode_matrix_shape(int which, int64_t C, int64_t F, int64_t V) {
  switch (which) {
    case kQkv: return {3 * C, C};
    case kProj: return {C, C};
    case kFc: return {F, C};
    case kOut: return {C, F};
    default: return {V, C};
  }
}

// A block's output rows of one matrix, and the rows a chunk holds.
struct DecodeShare {
  int64_t first, count, chunk_rows;
  ALIBI_HOST_DEVICE int64_t chunks() const { return count > 0 ? (count + chunk_rows - 1) / chunk_rows : 0; }
};

ALIBI_HOST_DEVICE inline DecodeShare decode_share(DecodeMatrixShape a, int64_t blocks, int64_t block,
                                                  int64_t slot_bytes) {
  const int64_t per = (a.outputs + blocks - 1) / blocks;
  const int64_t first = per * block < a.outputs ? per * block : a.outputs;
  const int64_t rest = a.outputs - first;
  return {first, per < rest ? per : rest, slot_bytes / (a.inputs * 2)};  // bf16 weights
}

// One chunk: rows [first_row, first_row + rows) of a matrix of a layer
// (layer == n_layer for the LM head).
struct DecodeChunk {
  int64_t layer;
  int which;
  int64_t first_row, rows;
};

// One block's chunks in the order it streams them; chunk(c) locates the
// c-th without walking the ones before it.
class DecodeSchedule {
 public:
  ALIBI_HOST_DEVICE DecodeSchedule(int64_t n_layer, int64_t C, int64_t F, int64_t V, int64_t blocks, int64_t block,
                                   int64_t slot_bytes)
      : n_layer_(n_layer), C_(C), F_(F), V_(V), blocks_(blocks), block_(block), slot_bytes_(slot_bytes) {
    for (int which = 0; which < kMatricesPerLayer; ++which) per_layer_ += share(which).chunks();
    total_ = per_layer_ * n_layer + share(kLmHead).chunks();
  }

  ALIBI_HOST_DEVICE int64_t total() const { return total_; }

  ALIBI_HOST_DEVICE DecodeShare share(int which) const {
    return decode_share(decode_matrix_shape(which, C_, F_, V_), blocks_, block_, slot_bytes_);
  }

  // Chunk c < total(). A block with no share of a small model's layer
  // matrices has only LM-head chunks.
  ALIBI_HOST_DEVICE DecodeChunk chunk(int64_t c) const {
    int64_t layer = per_layer_ > 0 ? c / per_layer_ : n_layer_, k = per_layer_ > 0 ? c % per_layer_ : 0;
    int which = 0;
    if (layer >= n_layer_) {
      layer = n_layer_, which = kLmHead, k = c - per_layer_ * n_layer_;
    } else {
      for (int64_t n; k >= (n = share(which).chunks()); ++which) k -= n;
    }
    const DecodeShare s = share(which);
    const int64_t first = k * s.chunk_rows, rest = s.count - first;
    return {layer, which, s.first + first, s.chunk_rows < rest ? s.chunk_rows : rest};
  }

 private:
  int64_t n_layer_, C_, F_, V_, blocks_, block_, slot_bytes_;
  int64_t per_layer_ = 0, total_ = 0;
};

}  // namespace alibi::cuda
