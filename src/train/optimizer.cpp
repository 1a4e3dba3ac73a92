#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "backend/grad_clip.h"

namespace alibi {

OptimizerSettings OptimizerSettings::from(const TrainConfig& t) {
  OptimizerSettings s;
  s.beta1 = t.beta1, s.beta2 = t.beta2, s.eps = t.eps;
  s.weight_decay = t.weight_decay;
  s.decay_embeddings = t.decay_embeddings;
  s.decay_norms_and_biases = t.decay_norms_and_biases;
  s.grad_clip = t.grad_clip;
  return s;
}

AdamW::AdamW(Backend& backend, Model& model, const OptimizerSettings& settings, OptimizerShard shard)
    : backend_(backend), model_(model), settings_(settings), shard_(std::move(shard)) {
  if (shard_.end < 0) shard_.end = model.params_flat().numel();
  if (shard_.begin < 0 || shard_.begin > shard_.end || shard_.end > model.params_flat().numel())
    throw std::invalid_argument("optimizer shard out of the parameter buffer");
  if (!shard_.sum_over_shards) shard_.sum_over_shards = [](const Tensor&) {};
  const int64_t n = shard_.end - shard_.begin;
  m_buffer_ = backend.allocate(n * sizeof(float));
  v_buffer_ = backend.allocate(n * sizeof(float));
  m_ = Tensor(m_buffer_->data(), {n}, DType::F32, backend.device());
  v_ = Tensor(v_buffer_->data(), {n}, DType::F32, backend.device());
  norm_sq_buffer_ = backend.allocate(sizeof(float));
  grad_norm_sq_ = Tensor(norm_sq_buffer_->data(), {1}, DType::F32, backend.device());
  backend.fill_zero(m_);
  backend.fill_zero(v_);
  decay_runs_ = shard_decay_runs();
}

// The shard as runs of equal decay, tensor after tensor; the padding between
// tensors (zero parameters, zero gradients: it stays zero under any decay)
// joins the run before it.
std::vector<DecayRun> AdamW::shard_decay_runs() const {
  std::vector<DecayRun> runs;
  const std::vector<ParamSpec>& layout = model_.layout();
  for (size_t i = 0; i < layout.size(); ++i) {
    const int64_t next = i + 1 < layout.size() ? layout[i + 1].offset : model_.params_flat().numel();
    const int64_t begin = std::max(layout[i].offset, shard_.begin), end = std::min(next, shard_.end);
    if (begin >= end) continue;
    const float decay = decay_for(layout[i]);
    if (!runs.empty() && runs.back().weight_decay == decay)
      runs.back().end = end - shard_.begin;
    else
      runs.push_back({end - shard_.begin, decay});
  }
  return runs;
}

float AdamW::decay_for(const ParamSpec& spec) const {
  switch (spec.group) {
    case DecayGroup::Matrix: return settings_.weight_decay;
    case DecayGroup::Embedding: return settings_.decay_embeddings ? settings_.weight_decay : 0.f;
    case DecayGroup::NormOrBias: return settings_.decay_norms_and_biases ? settings_.weight_decay : 0.f;
  }
  return 0.f;
}

OptimizerStepInfo AdamW::step(double lr, int64_t step) {
  // Alignment padding between tensors holds zero gradients, so the norm over
  // the flat buffer is the norm over the parameters.
  const Tensor grads = model_.grads_flat().range(shard_.begin, shard_.end);
  backend_.sum_of_squares(grad_norm_sq_, grads);
  shard_.sum_over_shards(grad_norm_sq_);

  AdamWArgs args;
  args.param = model_.params_flat().range(shard_.begin, shard_.end);
  if (!model_.working_flat().empty()) args.param_working = model_.working_flat().range(shard_.begin, shard_.end);
  args.grad = grads;
  args.m = m_, args.v = v_;
  args.lr = static_cast<float>(lr);
  args.beta1 = settings_.beta1, args.beta2 = settings_.beta2, args.eps = settings_.eps;
  args.decay_runs = decay_runs_;
  args.grad_norm_sq = grad_norm_sq_;
  args.max_grad_norm = settings_.grad_clip;
  args.step = step;
  backend_.adamw_update(args);

  // What the update decided, from the same scalar and the same definitions.
  float norm_sq = 0.f;
  backend_.download(&norm_sq, grad_norm_sq_);
  OptimizerStepInfo info;
  info.grad_norm = std::sqrt(static_cast<double>(norm_sq));
  info.skipped = !grad_norm_is_finite(norm_sq);
  if (!info.skipped) info.clip_scale = grad_clip_scale(norm_sq, settings_.grad_clip);
  return info;
}

}  // namespace alibi
