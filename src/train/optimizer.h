// AdamW over the model's flat parameters, with fp32 moments, decoupled
// weight decay by parameter group, and global-norm gradient clipping.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "config/config.h"
#include "model/model.h"

namespace alibi {

struct OptimizerSettings {
  float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f;
  float weight_decay = 0.f;
  bool decay_embeddings = false;
  bool decay_norms_and_biases = false;
  float grad_clip = 0.f;  // 0: no clipping

  static OptimizerSettings from(const TrainConfig& train);
};

struct OptimizerStepInfo {
  double grad_norm = 0.0;  // before clipping
  double clip_scale = 1.0;
  // The gradient norm was NaN or infinite (a diverging run): the update was
  // skipped, weights and moments untouched. Every rank sees the same norm
  // (summed over the shards of reduced gradients), so all skip together.
  bool skipped = false;
};

// The part of the flat parameter buffer this optimizer updates: all of it,
// or under ZeRO-1 one rank's contiguous shard [begin, end). The moments are
// kept for that part only.
struct OptimizerShard {
  int64_t begin = 0, end = -1;  // end -1: the whole buffer
  // Sums a device scalar in place over the ranks that hold the other shards
  // (the squared gradient norm); nothing when unsharded.
  std::function<void(const Tensor&)> sum_over_shards;
};

class AdamW {
 public:
  AdamW(Backend& backend, Model& model, const OptimizerSettings& settings, OptimizerShard shard = {});

  // One update with learning rate `lr`; `step` is 1-based. The squared
  // gradient norm stays on the device, where the update reads it to clip
  // and to skip a non-finite step (backend/grad_clip.h); it is read back
  // for the returned info only after the update is queued.
  OptimizerStepInfo step(double lr, int64_t step);

  // Moments of the shard: element i belongs to flat parameter shard_begin() + i.
  Tensor m_flat() const { return m_; }
  Tensor v_flat() const { return v_; }
  int64_t shard_begin() const { return shard_.begin; }
  int64_t shard_end() const { return shard_.end; }
  float decay_for(const ParamSpec& spec) const;
  size_t state_bytes() const { return m_.nbytes() + v_.nbytes(); }

 private:
  Backend& backend_;
  Model& model_;
  OptimizerSettings settings_;
  OptimizerShard shard_;
  std::unique_ptr<Buffer> m_buffer_, v_buffer_, norm_sq_buffer_;
  Tensor m_, v_;
  Tensor grad_norm_sq_;  // f32 [1] on the device
  std::vector<DecayRun> decay_runs_;  // over the shard, from the layout

  std::vector<DecayRun> shard_decay_runs() const;
};

}  // namespace alibi
