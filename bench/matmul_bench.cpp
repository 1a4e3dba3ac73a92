// Matmul forward/backward at the tiny model's shapes (N = B*T = 1024 rows).
// Not built by CMake; build and run by hand:
//   g++ -O3 -std=gnu++20 -fopenmp -Isrc src/cpu/matmul.cpp bench/matmul_bench.cpp
//       -o /tmp/matmul_bench && OMP_NUM_THREADS=2 /tmp/matmul_bench
// Reports wall time and process CPU time (the latter is the honest number on a
// machine shared with other work).
#include <chrono>
#include <cstdio>
#include <ctime>
#include <vector>

#include "cpu/matmul.h"

using namespace alibi::cpu;

static double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static void bench(int64_t N, int64_t C, int64_t OC) {
  std::vector<float> inp(N * C), w(OC * C, 0.25f), b(OC, 1), out(N * OC), dinp(N * C),
      dw(OC * C), db(OC);
  for (size_t i = 0; i < inp.size(); ++i) inp[i] = (i % 7) * 0.1f;
  matmul_forward(out.data(), inp.data(), w.data(), b.data(), N, C, OC);
  const int reps = 10;
  auto wall0 = std::chrono::steady_clock::now();
  double cpu0 = cpu_ms();
  for (int r = 0; r < reps; ++r) matmul_forward(out.data(), inp.data(), w.data(), b.data(), N, C, OC);
  auto wall1 = std::chrono::steady_clock::now();
  double cpu1 = cpu_ms();
  for (int r = 0; r < reps; ++r)
    matmul_backward(dinp.data(), dw.data(), db.data(), out.data(), inp.data(), w.data(), N, C, OC);
  auto wall2 = std::chrono::steady_clock::now();
  double cpu2 = cpu_ms();
  auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  const double f = ms(wall0, wall1) / reps, bw = ms(wall1, wall2) / reps;
  std::printf("N=%ld C=%ld OC=%ld: fwd %.3f ms wall (%.3f cpu, %.0f GF/s), bwd %.3f ms wall (%.3f cpu, %.0f GF/s)\n",
              (long)N, (long)C, (long)OC, f, (cpu1 - cpu0) / reps, 2e-6 * N * C * OC / f, bw,
              (cpu2 - cpu1) / reps, 4e-6 * N * C * OC / bw);
}

int main() {
  bench(1024, 128, 384);   // qkv
  bench(1024, 128, 128);   // attention projection
  bench(1024, 128, 512);   // mlp up
  bench(1024, 512, 128);   // mlp down
  bench(1024, 128, 8192);  // lm head
}
