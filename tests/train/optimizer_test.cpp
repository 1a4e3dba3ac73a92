// AdamW skips a step whose gradients are not finite and clips by the norm
// the update reads on the device (tests/train/nonfinite_check.h).
#include "train/nonfinite_check.h"

#include "cpu/cpu_backend.h"

namespace alibi {
namespace {

TEST(AdamWNonFinite, ANanOrInfGradientSkipsTheUpdate) {
  auto backend = make_cpu_backend(1);
  testing::expect_nonfinite_gradients_skip_the_update(*backend);
}

TEST(AdamWNonFinite, TheDeviceNormClipsAndGuardsTheUpdate) {
  auto backend = make_cpu_backend(1);
  testing::expect_device_norm_clips_and_guards_the_update(*backend);
}

}  // namespace
}  // namespace alibi
