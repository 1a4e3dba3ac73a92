#include "train/schedule.h"

#include <algorithm>
#include <cmath>

namespace alibi {

double LrSchedule::at(int64_t step) const {
  if (warmup_steps > 0 && step <= warmup_steps)
    return peak_lr * static_cast<double>(step) / static_cast<double>(warmup_steps);
  const double floor = peak_lr * min_lr_ratio;
  const int64_t decay_steps = std::max<int64_t>(1, total_steps - warmup_steps);
  const double progress = std::clamp(static_cast<double>(step - warmup_steps) / decay_steps, 0.0, 1.0);
  const double pi = 3.14159265358979323846;
  return floor + 0.5 * (peak_lr - floor) * (1.0 + std::cos(pi * progress));
}

}  // namespace alibi
