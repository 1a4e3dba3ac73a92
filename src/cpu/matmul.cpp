#include "cpu/matmul.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace alibi::cpu {
namespace {

constexpr int kMR = 4, kNR = 32;  // register tile: kMR rows x kNR columns of C
constexpr int64_t kKBlock = 256;  // reduction block: a kKBlock x kNR block of B stays in cache

// One product C = A @ B, with A and B addressed through strides so that the
// same kernel serves inp @ W^T, dout @ W and dout^T @ inp without transposes.
//   C[i,j] (= or +=) bias[j] + sum_k A(i,k) * B(k,j)
//   A(i,k) = a[i*a_row + k*a_k],  B(k,j) = b[k*b_k + j*b_col]
template <typename T>
struct Gemm {
  const T* a;
  int64_t a_row, a_k;
  const T* b;
  int64_t b_k, b_col;
  T* c;           // [M, N] row-major
  const T* bias;  // [N] or nullptr; only when !accumulate
  int64_t M, N, K;
  bool accumulate;
};

// B copied into panels of kNR columns, each panel [K][kNR] contiguous and
// zero-padded on the right, so the kernel streams it with unit stride
// whatever B's layout (large power-of-two strides would thrash the cache).
template <typename T>
struct PackedB {
  std::vector<T> data;
  int64_t K;
  const T* panel(int64_t j0) const { return data.data() + (j0 / kNR) * K * kNR; }
};

template <typename T>
PackedB<T> pack_b(const Gemm<T>& g) {
  const int64_t panels = (g.N + kNR - 1) / kNR;
  PackedB<T> packed{std::vector<T>(static_cast<size_t>(panels * g.K * kNR), T(0)), g.K};
#pragma omp parallel for
  for (int64_t p = 0; p < panels; ++p) {
    T* dst = packed.data.data() + p * g.K * kNR;
    const int64_t j0 = p * kNR, width = std::min<int64_t>(kNR, g.N - j0);
    for (int64_t k = 0; k < g.K; ++k)
      for (int64_t j = 0; j < width; ++j) dst[k * kNR + j] = g.b[k * g.b_k + (j0 + j) * g.b_col];
  }
  return packed;
}

// The result of one element is fma(a_K-1, b_K-1, ... fma(a_0, b_0, 0)), then
// bias added (or the old value of C added). Tiles and k-blocks only decide
// which elements are evaluated together and when, never the order of
// operations within one element: a k-block parks its running sums in
// `partial` (same precision as the registers) and the next block resumes them.
template <typename T>
inline void store(const Gemm<T>& g, int64_t i, int64_t j, T acc) {
  T* c = g.c + i * g.N + j;
  if (g.accumulate)
    *c += acc;
  else
    *c = g.bias ? acc + g.bias[j] : acc;
}

struct KBlock {
  int64_t k0, k1;
  bool first, last;
};

// An MR x kNR tile (MR = kMR except at the bottom edge) over one k-block: the
// accumulators stay in registers and the inner loop over j vectorizes.
// Columns past N run on the zero padding and are not stored.
template <typename T, int MR>
__attribute__((always_inline)) inline void tile(const Gemm<T>& g, const T* panel, T* partial,
                                                int64_t i0, int64_t j0, const KBlock& kb) {
  const int64_t width = std::min<int64_t>(kNR, g.N - j0);
  T acc[MR][kNR] = {};
  if (!kb.first)
    for (int r = 0; r < MR; ++r)
      for (int64_t j = 0; j < width; ++j) acc[r][j] = partial[(i0 + r) * g.N + j0 + j];
  for (int64_t k = kb.k0; k < kb.k1; ++k) {
    const T* brow = panel + k * kNR;
    for (int r = 0; r < MR; ++r) {
      const T a = g.a[(i0 + r) * g.a_row + k * g.a_k];
      for (int j = 0; j < kNR; ++j) acc[r][j] = std::fma(a, brow[j], acc[r][j]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int64_t j = 0; j < width; ++j) {
      if (kb.last)
        store(g, i0 + r, j0 + j, acc[r][j]);
      else
        partial[(i0 + r) * g.N + j0 + j] = acc[r][j];
    }
}

// Tiles are numbered column-panel major (a panel of B stays in cache while
// the rows of A stream past) and each thread takes a contiguous range, the
// same range for every k-block.
template <typename T>
__attribute__((always_inline)) inline void tile_range(const Gemm<T>& g, const PackedB<T>& packed,
                                                      T* partial, int64_t first, int64_t last) {
  static_assert(kMR == 4, "the switch below handles 1..4 remaining rows");
  const int64_t row_tiles = (g.M + kMR - 1) / kMR;
  for (int64_t k0 = 0; k0 < g.K; k0 += kKBlock) {
    const KBlock kb{k0, std::min(k0 + kKBlock, g.K), k0 == 0, k0 + kKBlock >= g.K};
    for (int64_t t = first; t < last; ++t) {
      const int64_t i0 = (t % row_tiles) * kMR, j0 = (t / row_tiles) * kNR;
      const T* panel = packed.panel(j0);
      switch (std::min<int64_t>(kMR, g.M - i0)) {
        case 4: tile<T, 4>(g, panel, partial, i0, j0, kb); break;
        case 3: tile<T, 3>(g, panel, partial, i0, j0, kb); break;
        case 2: tile<T, 2>(g, panel, partial, i0, j0, kb); break;
        default: tile<T, 1>(g, panel, partial, i0, j0, kb); break;
      }
    }
  }
}

// The same source compiled for wider vectors. FMA is used explicitly on every
// path (std::fma is exactly rounded everywhere), so all paths agree bitwise.
#if defined(__x86_64__) && defined(__GNUC__)
#define ALIBI_X86_DISPATCH 1
template <typename T>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void tile_range_avx512(
    const Gemm<T>& g, const PackedB<T>& packed, T* partial, int64_t first, int64_t last) {
  tile_range(g, packed, partial, first, last);
}
template <typename T>
__attribute__((target("avx2,fma"))) void tile_range_avx2(const Gemm<T>& g,
                                                         const PackedB<T>& packed, T* partial,
                                                         int64_t first, int64_t last) {
  tile_range(g, packed, partial, first, last);
}
#endif
template <typename T>
void tile_range_portable(const Gemm<T>& g, const PackedB<T>& packed, T* partial, int64_t first,
                         int64_t last) {
  tile_range(g, packed, partial, first, last);
}

template <typename T>
void run_tiles(const Gemm<T>& g, const PackedB<T>& packed, T* partial, int64_t first,
               int64_t last) {
#ifdef ALIBI_X86_DISPATCH
  static const bool has_avx512 =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
  static const bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (has_avx512) return tile_range_avx512(g, packed, partial, first, last);
  if (has_avx2) return tile_range_avx2(g, packed, partial, first, last);
#endif
  tile_range_portable(g, packed, partial, first, last);
}

template <typename T>
void gemm(const Gemm<T>& g) {
  if (g.M == 0 || g.N == 0) return;
  const PackedB<T> packed = pack_b(g);
  std::vector<T> partial(g.K > kKBlock ? static_cast<size_t>(g.M * g.N) : 0);
  const int64_t tiles = ((g.M + kMR - 1) / kMR) * ((g.N + kNR - 1) / kNR);
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), tid = omp_get_thread_num();
    run_tiles(g, packed, partial.data(), tiles * tid / nt, tiles * (tid + 1) / nt);
  }
}

}  // namespace

template <typename T>
void add_column_sums(T* sums, const T* x, int64_t N, int64_t C, int64_t ld) {
  if (ld == 0) ld = C;
  constexpr int64_t kBlock = 64;  // one thread a block of columns
#pragma omp parallel for
  for (int64_t c0 = 0; c0 < C; c0 += kBlock) {
    const int64_t c1 = std::min(c0 + kBlock, C);
    T sum[kBlock] = {};
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = c0; c < c1; ++c) sum[c - c0] += x[n * ld + c];
    for (int64_t c = c0; c < c1; ++c) sums[c] += sum[c - c0];
  }
}

template <typename T>
void matmul_forward(T* out, const T* inp, const T* weight, const T* bias, int64_t N, int64_t C,
                    int64_t OC) {
  // B(k=c, j=o) = weight[o,c]: packing reads W^T, so no sum runs along a vector.
  gemm(Gemm<T>{inp, C, 1, weight, 1, C, out, bias, N, OC, C, false});
}

template <typename T>
void matmul_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                     int64_t N, int64_t C, int64_t OC) {
  // Parameter gradients first: dinp may take inp's place.
  // dweight(o,c) += sum_n dout[n,o] * inp[n,c]: A = dout^T through its strides.
  gemm(Gemm<T>{dout, 1, OC, inp, C, 1, dweight, nullptr, OC, C, N, true});
  if (dbias) add_column_sums(dbias, dout, N, OC);
  // dinp(n,c) = sum_o dout[n,o] * weight[o,c]
  if (dinp) gemm(Gemm<T>{dout, OC, 1, weight, C, 1, dinp, nullptr, N, C, OC, false});
}

#define ALIBI_INSTANTIATE(T)                                                                 \
  template void matmul_forward<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t); \
  template void matmul_backward<T>(T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t,  \
                                   int64_t);                                                     \
  template void add_column_sums<T>(T*, const T*, int64_t, int64_t, int64_t);
ALIBI_INSTANTIATE(float)
ALIBI_INSTANTIATE(double)
#undef ALIBI_INSTANTIATE

}  // namespace alibi::cpu
