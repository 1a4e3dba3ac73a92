// Learning-rate schedule: linear warmup from 0, then cosine decay to a floor.
#pragma once

#include <cstdint>

namespace alibi {

struct LrSchedule {
  double peak_lr = 1e-3;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  double min_lr_ratio = 0.1;  // the floor, as a fraction of peak_lr

  // The rate for optimizer step `step` (1-based, the step about to be taken).
  double at(int64_t step) const;
};

}  // namespace alibi
