// The gradient guard of AdamW, run on any backend (the CPU test and the GPU
// test call it): a step with a NaN or inf anywhere in the gradients leaves
// the weights and moments as they were and says so; the next finite step
// updates as usual; and the squared norm the update reads on the device
// clips the gradient as the definition says (against cpu::adamw_update in
// double with the clip factor written out).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "cpu/adamw.h"
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

// adamw_update given grad_norm_sq (a device scalar) and max_grad_norm.
inline void expect_device_norm_clips_and_guards_the_update(Backend& backend) {
  const int64_t n = 1001;
  std::vector<float> p(n), g(n), m(n), v(n);
  for (int64_t i = 0; i < n; ++i) {
    p[i] = std::sin(0.37f * i), g[i] = 0.2f * std::cos(1.3f * i);
    m[i] = 0.01f * std::sin(2.1f * i), v[i] = 1e-3f * (1.5f + std::cos(0.7f * i));
  }
  const auto device_tensor = [&](std::vector<std::unique_ptr<Buffer>>& keep, const std::vector<float>& host) {
    keep.push_back(backend.allocate(host.size() * sizeof(float)));
    const Tensor t(keep.back()->data(), {static_cast<int64_t>(host.size())}, DType::F32, backend.device());
    backend.upload(t, host.data());
    return t;
  };
  const float max_norm = 1.5f;
  for (float norm_sq : {0.25f, 16.f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::vector<std::unique_ptr<Buffer>> keep;
    AdamWArgs a;
    a.param = device_tensor(keep, p), a.grad = device_tensor(keep, g), a.m = device_tensor(keep, m);
    a.v = device_tensor(keep, v);
    a.grad_norm_sq = device_tensor(keep, {norm_sq});
    a.max_grad_norm = max_norm;
    a.lr = 1e-2f, a.weight_decay = 0.1f, a.step = 2;
    backend.adamw_update(a);
    std::vector<double> want_p(p.begin(), p.end()), want_m(m.begin(), m.end()), want_v(v.begin(), v.end());
    if (std::isfinite(norm_sq)) {
      const double norm = std::sqrt(double{norm_sq});
      cpu::AdamWHyper hp{1e-2, 0.9, 0.95, 1e-8, 0.1, norm > max_norm ? max_norm / (norm + 1e-6) : 1.0, 2};
      const std::vector<double> grad(g.begin(), g.end());
      cpu::adamw_update(want_p.data(), grad.data(), want_m.data(), want_v.data(), n, hp);
    }
    const std::vector<float> got_p = host_copy(backend, a.param), got_m = host_copy(backend, a.m);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(got_p[i], want_p[i], 1e-6 * (1 + std::fabs(want_p[i]))) << "norm^2 " << norm_sq << " i " << i;
      // f32 rounding of m's two terms, which may cancel.
      ASSERT_NEAR(got_m[i], want_m[i], 1e-6 * (std::fabs(m[i]) + std::fabs(g[i]))) << "norm^2 " << norm_sq << " i " << i;
    }
    if (!std::isfinite(norm_sq)) {
      EXPECT_EQ(host_copy(backend, a.v), v);
    }
  }
}

}  // namespace alibi::testing
