// Model::zero_grads() clears the gradients without a pass over them: the
// next training forward and backward write each parameter's gradient
// instead of adding to it (GradWrite::Overwrite). Run on any backend (the
// CPU test and the GPU test call it): two micro-batches after zero_grads()
// over NaN in every parameter's gradient give the gradients of the same two
// micro-batches added into a buffer of zeros, element for element. (The
// padding between the tensors is zero from allocation: no op writes it.)
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/random.h"
#include "model/model.h"

namespace alibi::testing {

// B x T tokens a micro-batch; shape.max_position (learned) may exceed T, so
// that the table's rows past T are written (zeros) too.
inline void expect_cleared_gradients_are_written(Backend& backend, const ModelShape& shape, int64_t B, int64_t T,
                                                 uint64_t seed) {
  Model model(backend, shape);
  model.load_parameters(init_parameters(model.layout(), shape, 0.3f, seed));
  Rng rng(seed + 1);
  std::vector<int32_t> tokens(2 * B * T), targets(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    tokens[i] = static_cast<int32_t>(rng.below(shape.vocab));
    targets[i] = static_cast<int32_t>(rng.below(shape.vocab));
  }
  const int64_t n = model.grads_flat().numel();
  auto two_micro_batches = [&] {
    for (int64_t part = 0; part < 2; ++part) {
      model.forward(tokens.data() + part * B * T, targets.data() + part * B * T, B, T, /*training=*/true,
                    /*dropout_seed=*/7 + part, 0.5f / static_cast<float>(B * T));
      model.backward();
    }
    std::vector<float> grads(n);
    backend.download(grads.data(), model.grads_flat());
    return grads;
  };
  const std::vector<float> zeros(n, 0.f);
  std::vector<float> poison(n, 0.f);
  for (const ParamSpec& spec : model.layout())
    std::fill_n(poison.begin() + spec.offset, spec.numel(), std::numeric_limits<float>::quiet_NaN());
  backend.upload(model.grads_flat(), zeros.data());
  const std::vector<float> added = two_micro_batches();  // no zero_grads(): added into the zeros
  backend.upload(model.grads_flat(), poison.data());
  model.zero_grads();
  const std::vector<float> written = two_micro_batches();

  int64_t differing = 0, first = -1;
  double largest = 0;
  for (int64_t i = 0; i < n; ++i) {
    largest = std::max(largest, std::fabs(double(added[i])));
    if (written[i] == added[i]) continue;  // NaN never equals: a gradient left unwritten shows
    if (first < 0) first = i;
    ++differing;
  }
  EXPECT_EQ(differing, 0) << "of " << n << "; the first at element " << first << ": " << written[first] << " against "
                          << added[first];
  EXPECT_GT(largest, 1e-4) << "gradients too small to tell anything";
}

}  // namespace alibi::testing
