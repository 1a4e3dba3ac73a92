#include "cuda/peak_flops.h"

#include <cstdlib>

namespace alibi::cuda {
namespace {

// Published dense bf16 peaks. The derived figure is higher for these parts:
// an H100 SXM reports a 1980 MHz boost clock, but its 989.4 TFLOP/s
// datasheet value is 132 SMs x 4096 FLOP/clk x 1830 MHz, the clock the tensor
// cores sustain. Order matters: the first substring found wins.
struct Datasheet {
  const char* name_part;
  double flops;
};
constexpr Datasheet kDatasheets[] = {
    {"H100 NVL", 835e12},  {"H100 PCIe", 756e12}, {"GH200", 989.4e12}, {"H200", 989.4e12},
    {"H100", 989.4e12},    {"H800", 989.4e12},    {"A100", 312e12},    {"A800", 312e12},
};

// Dense bf16 FLOP per SM per clock: sm_80 has 4 tensor cores x 256 FMA/clk,
// sm_90 doubles that (4 x 512 FMA/clk); 2 FLOP per FMA.
double flops_per_sm_per_clock(int major, int minor) {
  if (major == 9 && minor == 0) return 4096;
  if (major == 8 && minor == 0) return 2048;
  return 0;
}

}  // namespace

double peak_bf16_flops(const GpuSpec& gpu) {
  if (const char* env = std::getenv("ALIBI_PEAK_FLOPS")) {
    const double v = std::atof(env);
    if (v > 0) return v;
  }
  for (const Datasheet& d : kDatasheets)
    if (gpu.name.find(d.name_part) != std::string::npos) return d.flops;
  return gpu.sm_count * gpu.clock_hz * flops_per_sm_per_clock(gpu.major, gpu.minor);
}

}  // namespace alibi::cuda
