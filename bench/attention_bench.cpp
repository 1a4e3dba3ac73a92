// Attention forward/backward at the tiny model's size (B 8, T 128, H 4, D 32).
// Not built by CMake; build and run by hand:
//   g++ -O3 -std=gnu++20 -fopenmp -Isrc src/cpu/attention.cpp bench/attention_bench.cpp
//       -o /tmp/attention_bench && OMP_NUM_THREADS=2 /tmp/attention_bench
// Reports wall time and process CPU time (the latter is the honest number on a
// machine shared with other work).
#include <chrono>
#include <cstdio>
#include <ctime>
#include <vector>

#include "cpu/attention.h"

using namespace alibi::cpu;

static double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

int main() {
  const int64_t B = 8, T = 128, H = 4, D = 32, C = H * D;
  std::vector<float> qkv(B * T * 3 * C), out(B * T * C), lse(B * H * T), dqkv(B * T * 3 * C),
      dout(B * T * C), slopes = {0.25f, 0.0625f, 0.0156f, 0.0039f};
  for (size_t i = 0; i < qkv.size(); ++i) qkv[i] = ((i * 37) % 101) * 0.01f - 0.5f;
  for (size_t i = 0; i < dout.size(); ++i) dout[i] = ((i * 13) % 17) * 0.01f;
  attention_forward(out.data(), lse.data(), qkv.data(), slopes.data(), B, T, H, D);
  const int reps = 20;
  auto wall0 = std::chrono::steady_clock::now();
  double cpu0 = cpu_ms();
  for (int r = 0; r < reps; ++r)
    attention_forward(out.data(), lse.data(), qkv.data(), slopes.data(), B, T, H, D);
  auto wall1 = std::chrono::steady_clock::now();
  double cpu1 = cpu_ms();
  for (int r = 0; r < reps; ++r)
    attention_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(),
                       slopes.data(), B, T, H, D);
  auto wall2 = std::chrono::steady_clock::now();
  double cpu2 = cpu_ms();
  auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  std::printf("attention B8 T128 H4 D32: fwd %.3f ms wall (%.3f ms cpu), bwd %.3f ms wall (%.3f ms cpu)\n",
              ms(wall0, wall1) / reps, (cpu1 - cpu0) / reps, ms(wall1, wall2) / reps,
              (cpu2 - cpu1) / reps);
}
