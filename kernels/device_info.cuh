// What the GPU of this process can do, asked of the driver once (the trainer
// runs one GPU a process). A failed query answers as the oldest GPU would, so
// callers fall back to their portable path instead of throwing.
#pragma once

namespace alibi::cuda {

struct ComputeCapability {
  int major = 0, minor = 0;
};

// The current device's compute capability ({0, 0} when it cannot be asked).
ComputeCapability compute_capability();

// Hopper or newer: TMA bulk copies, mbarriers with transaction counts,
// programmatic dependent launch.
inline bool sm90_or_newer() { return compute_capability().major >= 9; }

}  // namespace alibi::cuda
