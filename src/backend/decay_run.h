// A run of parameters sharing one weight decay, as AdamW takes them (the
// backends and the CUDA kernel read the same struct).
#pragma once

#include <cstdint>

namespace alibi {

// Weight decay over part of an update: elements [previous run's end, end).
struct DecayRun {
  int64_t end;
  float weight_decay;
};

}  // namespace alibi
