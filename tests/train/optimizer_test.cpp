// AdamW skips a step whose gradients are not finite (tests/train/nonfinite_check.h).
#include "train/nonfinite_check.h"

#include "cpu/cpu_backend.h"

namespace alibi {
namespace {

TEST(AdamWNonFinite, ANanOrInfGradientSkipsTheUpdate) {
  auto backend = make_cpu_backend(1);
  testing::expect_nonfinite_gradients_skip_the_update(*backend);
}

}  // namespace
}  // namespace alibi
