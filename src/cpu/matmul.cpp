#include "cpu/matmul.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace alibi::cpu {
namespace {

// One product C = A @ B, with A addressed through strides so that the same
// kernel serves inp @ W^T (after transposing W once), dout @ W and dout^T @ inp.
//   C[i,j] (= or +=) bias[j] + sum_k A(i,k) * B[k,j],  A(i,k) = a[i*a_row + k*a_k]
template <typename T>
struct Gemm {
  const T* a;
  int64_t a_row, a_k;
  const T* b;  // [K, N] row-major
  T* c;        // [M, N] row-major
  const T* bias;  // [N] or nullptr; only when !accumulate
  int64_t M, N, K;
  bool accumulate;
};

// The result of one element is fma(a_K-1, b_K-1, ... fma(a_0, b_0, 0)), then
// bias added (or the old value of C added). Tiles only decide which elements
// are evaluated together, never the order of operations within one element.
template <typename T>
inline void store(const Gemm<T>& g, int64_t i, int64_t j, T acc) {
  T* c = g.c + i * g.N + j;
  if (g.accumulate)
    *c += acc;
  else
    *c = g.bias ? acc + g.bias[j] : acc;
}

// A full MR x NR tile: the accumulators stay in registers and the inner loop
// over j vectorizes.
template <typename T, int MR, int NR>
__attribute__((always_inline)) inline void full_tile(const Gemm<T>& g, int64_t i0, int64_t j0) {
  T acc[MR][NR] = {};
  for (int64_t k = 0; k < g.K; ++k) {
    const T* brow = g.b + k * g.N + j0;
    for (int r = 0; r < MR; ++r) {
      const T a = g.a[(i0 + r) * g.a_row + k * g.a_k];
      for (int j = 0; j < NR; ++j) acc[r][j] = std::fma(a, brow[j], acc[r][j]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) store(g, i0 + r, j0 + j, acc[r][j]);
}

// A partial tile at the right or bottom edge, element by element, same order.
template <typename T>
inline void edge_tile(const Gemm<T>& g, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  for (int64_t i = i0; i < i1; ++i)
    for (int64_t j = j0; j < j1; ++j) {
      T acc = 0;
      for (int64_t k = 0; k < g.K; ++k)
        acc = std::fma(g.a[i * g.a_row + k * g.a_k], g.b[k * g.N + j], acc);
      store(g, i, j, acc);
    }
}

// Tiles are numbered column-panel major (a panel of B stays in cache while
// the rows of A stream past) and each thread takes a contiguous range.
template <typename T, int MR, int NR>
__attribute__((always_inline)) inline void tile_range(const Gemm<T>& g, int64_t first,
                                                      int64_t last) {
  const int64_t row_tiles = (g.M + MR - 1) / MR;
  for (int64_t t = first; t < last; ++t) {
    const int64_t i0 = (t % row_tiles) * MR, j0 = (t / row_tiles) * NR;
    if (i0 + MR <= g.M && j0 + NR <= g.N)
      full_tile<T, MR, NR>(g, i0, j0);
    else
      edge_tile(g, i0, std::min(i0 + MR, g.M), j0, std::min(j0 + NR, g.N));
  }
}

constexpr int kMR = 4, kNR = 32;

// The same source compiled for wider vectors. FMA is used explicitly on every
// path (std::fma is exactly rounded everywhere), so all paths agree bitwise.
#if defined(__x86_64__) && defined(__GNUC__)
#define ALIBI_X86_DISPATCH 1
template <typename T>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void tile_range_avx512(const Gemm<T>& g,
                                                                             int64_t first,
                                                                             int64_t last) {
  tile_range<T, kMR, kNR>(g, first, last);
}
template <typename T>
__attribute__((target("avx2,fma"))) void tile_range_avx2(const Gemm<T>& g, int64_t first,
                                                         int64_t last) {
  tile_range<T, kMR, kNR>(g, first, last);
}
#endif
template <typename T>
void tile_range_portable(const Gemm<T>& g, int64_t first, int64_t last) {
  tile_range<T, kMR, kNR>(g, first, last);
}

template <typename T>
void run_tiles(const Gemm<T>& g, int64_t first, int64_t last) {
#ifdef ALIBI_X86_DISPATCH
  static const bool has_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
  static const bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (has_avx512) return tile_range_avx512(g, first, last);
  if (has_avx2) return tile_range_avx2(g, first, last);
#endif
  tile_range_portable(g, first, last);
}

template <typename T>
void gemm(const Gemm<T>& g) {
  if (g.M == 0 || g.N == 0) return;
  const int64_t tiles = ((g.M + kMR - 1) / kMR) * ((g.N + kNR - 1) / kNR);
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), tid = omp_get_thread_num();
    run_tiles(g, tiles * tid / nt, tiles * (tid + 1) / nt);
  }
}

template <typename T>
std::vector<T> transpose(const T* x, int64_t rows, int64_t cols) {
  std::vector<T> xt(static_cast<size_t>(rows * cols));
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) xt[c * rows + r] = x[r * cols + c];
  return xt;
}

// dbias[o] += sum_n dout[n,o], rows in ascending order, one thread per column block.
template <typename T>
void bias_backward(T* dbias, const T* dout, int64_t N, int64_t OC) {
  constexpr int64_t kBlock = 64;
#pragma omp parallel for
  for (int64_t o0 = 0; o0 < OC; o0 += kBlock) {
    const int64_t o1 = std::min(o0 + kBlock, OC);
    T sum[kBlock] = {};
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = o0; o < o1; ++o) sum[o - o0] += dout[n * OC + o];
    for (int64_t o = o0; o < o1; ++o) dbias[o] += sum[o - o0];
  }
}

}  // namespace

template <typename T>
void matmul_forward(T* out, const T* inp, const T* weight, const T* bias, int64_t N, int64_t C,
                    int64_t OC) {
  // Transposing W (OC*C, small next to N*OC*C) lets the inner loop run along
  // output columns instead of reducing along C.
  const std::vector<T> wt = transpose(weight, OC, C);
  gemm(Gemm<T>{inp, C, 1, wt.data(), out, bias, N, OC, C, false});
}

template <typename T>
void matmul_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                     int64_t N, int64_t C, int64_t OC) {
  if (dinp) gemm(Gemm<T>{dout, OC, 1, weight, dinp, nullptr, N, C, OC, false});
  // dweight(o,c) += sum_n dout[n,o] * inp[n,c]: A = dout^T via strides.
  gemm(Gemm<T>{dout, 1, OC, inp, dweight, nullptr, OC, C, N, true});
  if (dbias) bias_backward(dbias, dout, N, OC);
}

#define ALIBI_INSTANTIATE(T)                                                                 \
  template void matmul_forward<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t); \
  template void matmul_backward<T>(T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t,  \
                                   int64_t);
ALIBI_INSTANTIATE(float)
ALIBI_INSTANTIATE(double)
#undef ALIBI_INSTANTIATE

}  // namespace alibi::cpu
