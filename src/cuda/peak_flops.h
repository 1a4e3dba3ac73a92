// Dense bf16 tensor-core peak of a GPU, in FLOP/s, for MFU.
#pragma once

#include <string>

namespace alibi::cuda {

struct GpuSpec {
  std::string name;       // e.g. "NVIDIA H100 80GB HBM3"
  int major = 0, minor = 0;
  int sm_count = 0;
  double clock_hz = 0;    // the maximum (boost) clock the driver reports
};

// The datasheet's dense (no sparsity) bf16 figure where the name is known,
// since that is what MFU is conventionally measured against; otherwise SMs x
// clock x the architecture's dense bf16 FLOP per SM per clock; 0 when the
// architecture is unknown (no MFU is then reported). ALIBI_PEAK_FLOPS in the
// environment overrides both.
double peak_bf16_flops(const GpuSpec& gpu);

}  // namespace alibi::cuda
