// Data-parallel gradient averaging: after the last micro-batch's backward,
// every rank holds the mean gradient over all ranks (or, under ZeRO-1, its
// own shard of it).
//
// The loss scale already divides by the world size, so a sum over ranks is
// the mean. Buckets are contiguous ranges of the flat gradient buffer made of
// whole layers; the backward pass finishes layers from the last to the first
// (Model's GradsReadyHook), and each bucket is handed to the communicator as
// soon as it is full, so its all-reduce runs while the backward pass computes
// the layers below. With dist.reduce_dtype = bf16 the gradients travel as
// bf16 through a staging copy and come back to fp32.
//
// ZeRO-1 reduce-scatters the whole buffer once the backward pass is done (no
// overlap: each rank needs exactly its shard, which does not follow layer
// boundaries).
#pragma once

#include <cstdint>
#include <memory>

#include "backend/backend.h"
#include "config/config.h"
#include "dist/communicator.h"
#include "model/model.h"

namespace alibi {

class GradientSync {
 public:
  GradientSync(Backend& backend, Communicator& comm, Model& model, const DistConfig& dist);

  // For Model::backward on the last micro-batch of a step (empty when the
  // reduction waits for finish()).
  GradsReadyHook hook();
  // Reduces what the hook has not, and makes the backend wait for it all.
  void finish();

  int64_t buckets_last_step() const { return buckets_; }
  size_t staging_bytes() const { return staging_ ? staging_->size() : 0; }

 private:
  void reduce_range(int64_t begin, int64_t end);

  Backend& backend_;
  Communicator& comm_;
  Model& model_;
  DistConfig dist_;
  int64_t bucket_elements_;
  int64_t unreduced_end_ = 0;  // gradients [unreduced_end_, end) are on their way
  int64_t buckets_ = 0;
  std::unique_ptr<Buffer> staging_;  // bf16 copy of the gradients (reduce_dtype bf16)
  Tensor staging_flat_;
};

}  // namespace alibi
