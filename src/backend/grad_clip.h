// Global-norm gradient clipping and the non-finite guard, from the squared
// norm of the whole gradient. The optimizer's update reads the squared norm
// where it was computed (on the GPU, in device memory) and decides there, so
// the host need not wait for it; the host reads it afterwards, for the log,
// and takes the same decision from the same definition.
#pragma once

#include <cmath>

#include "core/host_device.h"

namespace alibi {

// False for NaN and +inf (a squared norm is never negative). Written as a
// comparison so that it means the same on the host and the device.
ALIBI_HOST_DEVICE inline bool grad_norm_is_finite(float norm_sq) { return norm_sq <= 3.40282347e38f; }

// The factor the gradient is multiplied by before the update:
// max_norm / (norm + 1e-6) where max_norm > 0 and the norm exceeds it, else 1.
ALIBI_HOST_DEVICE inline float grad_clip_scale(float norm_sq, float max_norm) {
  const float norm = sqrtf(norm_sq);
  return max_norm > 0.f && norm > max_norm ? max_norm / (norm + 1e-6f) : 1.f;
}

// An update's gradient factor: `scale` (the caller's own) times the clip
// factor of *norm_sq. False where *norm_sq is NaN or infinite: the update is
// skipped. A null norm_sq (none given) leaves scale as it is.
ALIBI_HOST_DEVICE inline bool guarded_grad_scale(const float* norm_sq, float max_norm, float* scale) {
  if (!norm_sq) return true;
  if (!grad_norm_is_finite(*norm_sq)) return false;
  *scale *= grad_clip_scale(*norm_sq, max_norm);
  return true;
}

}  // namespace alibi
