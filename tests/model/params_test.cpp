// Initial weights: the same values for any thread count (each tensor its own
// random stream, drawn in parallel), and those values the definition's.
#include "model/params.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "core/random.h"

namespace alibi {
namespace {

TEST(InitParameters, AreTheDefinitionsValuesForAnyThreadCount) {
  ModelShape shape;
  shape.n_layer = 3, shape.d_model = 48, shape.n_head = 4, shape.d_ff = 96, shape.vocab = 101;
  const std::vector<ParamSpec> layout = parameter_layout(shape);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::vector<float> serial = init_parameters(layout, shape, 0.02f, 7);
  omp_set_num_threads(3);
  const std::vector<float> parallel = init_parameters(layout, shape, 0.02f, 7);
  omp_set_num_threads(saved);
  EXPECT_EQ(serial, parallel);

  // Written out: tensor t's stream, scaled by 0.02 (0.02 / sqrt(2 n_layer)
  // for the projections into the residual stream); norms 1, biases 0.
  for (size_t t = 0; t < layout.size(); ++t) {
    const ParamSpec& spec = layout[t];
    const float* w = serial.data() + spec.offset;
    const std::string& name = spec.name;
    const auto ends = [&](const std::string& suffix) {
      return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (spec.group == DecayGroup::NormOrBias) {
      EXPECT_EQ(w[spec.numel() - 1], ends("weight") ? 1.f : 0.f) << name;
      continue;
    }
    const double init_std = 0.02f;  // the float the call passed
    const double std = ends("attn.proj.weight") || ends("mlp.out.weight") ? init_std / std::sqrt(6.0) : init_std;
    Rng rng(derive_seed(7, 0x1417, t));
    for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(w[i], static_cast<float>(std * rng.normal())) << name << " " << i;
  }
}

}  // namespace
}  // namespace alibi
