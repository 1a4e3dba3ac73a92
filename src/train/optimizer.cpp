#include "train/optimizer.h"

#include <cmath>

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

AdamW::AdamW(Backend& backend, Model& model, const OptimizerSettings& settings)
    : backend_(backend), model_(model), settings_(settings) {
  const int64_t n = model.params_flat().numel();
  m_buffer_ = backend.allocate(n * sizeof(float));
  v_buffer_ = backend.allocate(n * sizeof(float));
  m_ = Tensor(m_buffer_->data(), {n}, DType::F32, backend.device());
  v_ = Tensor(v_buffer_->data(), {n}, DType::F32, backend.device());
  backend.fill_zero(m_);
  backend.fill_zero(v_);
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
  OptimizerStepInfo info;
  // Alignment padding between tensors holds zero gradients, so the norm over
  // the flat buffer is the norm over the parameters.
  info.grad_norm = std::sqrt(backend_.sum_of_squares(model_.grads_flat()));
  if (settings_.grad_clip > 0.f && info.grad_norm > settings_.grad_clip)
    info.clip_scale = settings_.grad_clip / (info.grad_norm + 1e-6);

  const DType grad_dtype = model_.grads_flat().dtype;
  const Device device = backend_.device();
  for (const ParamSpec& spec : model_.layout()) {
    AdamWArgs args;
    args.param = param_view(spec, model_.params_flat().data, DType::F32, device);
    if (!model_.working_flat().empty())
      args.param_working = param_view(spec, model_.working_flat().data, model_.working_flat().dtype, device);
    args.grad = param_view(spec, model_.grads_flat().data, grad_dtype, device);
    args.m = param_view(spec, m_.data, DType::F32, device);
    args.v = param_view(spec, v_.data, DType::F32, device);
    args.lr = static_cast<float>(lr);
    args.beta1 = settings_.beta1, args.beta2 = settings_.beta2, args.eps = settings_.eps;
    args.weight_decay = decay_for(spec);
    args.grad_scale = static_cast<float>(info.clip_scale);
    args.step = step;
    backend_.adamw_update(args);
  }
  return info;
}

}  // namespace alibi
