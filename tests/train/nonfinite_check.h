// The non-finite-gradient check of AdamW, run on any backend (the CPU test
// and the GPU test call it): a step with a NaN or inf anywhere in the
// gradients leaves the weights and moments as they were and says so; the
// next finite step updates as usual.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "train/optimizer.h"

namespace alibi::testing {

inline std::vector<float> host_copy(Backend& backend, const Tensor& t) {
  std::vector<float> v(t.numel());
  backend.download(v.data(), t);
  return v;
}

inline void expect_nonfinite_gradients_skip_the_update(Backend& backend) {
  ModelShape shape;
  shape.n_layer = 1, shape.d_model = 64, shape.n_head = 2, shape.d_ff = 128, shape.vocab = 11;
  Model model(backend, shape);
  model.load_parameters(init_parameters(model.layout(), shape, 0.1f, 2));
  OptimizerSettings settings;
  settings.weight_decay = 0.1f;
  settings.grad_clip = 1.f;
  AdamW adamw(backend, model, settings);
  const int64_t n = model.grads_flat().numel();
  const std::vector<float> start = host_copy(backend, model.params_flat());
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::vector<float> grads(n, 0.01f);
    grads[n / 3] = bad;
    backend.upload(model.grads_flat(), grads.data());
    const OptimizerStepInfo info = adamw.step(1e-2, 1);
    EXPECT_TRUE(info.skipped);
    EXPECT_FALSE(std::isfinite(info.grad_norm));
    EXPECT_EQ(host_copy(backend, model.params_flat()), start);
    for (float m : host_copy(backend, adamw.m_flat())) ASSERT_EQ(m, 0.f);
    for (float v : host_copy(backend, adamw.v_flat())) ASSERT_EQ(v, 0.f);
  }
  std::vector<float> grads(n, 0.01f);
  backend.upload(model.grads_flat(), grads.data());
  const OptimizerStepInfo info = adamw.step(1e-2, 1);
  EXPECT_FALSE(info.skipped);
  EXPECT_NE(host_copy(backend, model.params_flat()), start);
}

}  // namespace alibi::testing
