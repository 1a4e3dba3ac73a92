// Index-level model of kernels/attention_backward_sm90.cuh, written while no
// GPU was available. Not built by CMake; build and run by hand:
//   g++ -O2 -std=c++20 tests/cuda/attention_sm90_bwd_model.cpp -o /tmp/model && /tmp/model
// It replays both kernels' index logic as transcribed from the kernel: the
// grid and tile loops, the skip and diagonal-mask tests, the relative ALiBi
// bias of every fragment element (c, e) of every lane (the wgmma accumulator
// layout of wgmma.cuh), the producer lanes' lse/delta slots, lse = +inf
// for rows past T, TMA rows of the next batch / zeros past B*T, and the
// stores of rows < T. The matrix products of a warp's 16 rows are done
// exactly (double); the result is compared with a direct causal ALiBi
// backward. What it cannot check: shared-memory layouts, descriptors and the
// PTX itself. Expected: max rel err ~1e-15 for every case. Keep it in step
// with the kernel when the tiling changes.
#include <cassert>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>
using V = std::vector<double>;
const double LOG2E = 1.4426950408889634;
int B, T, H, D;
V q, k, v, dO;  // [B*T][H][D]
double at(const V& a, int R, int h, int d) { return a[(size_t(R) * H + h) * D + d]; }
// TMA view: flat row b*T + r; past B*T zeros.
double dotrows(const V& a, const V& b2, int b, int h, int r1, int r2) {
  int R1 = b * T + r1, R2 = b * T + r2;
  if (R1 >= B * T || R2 >= B * T) return 0;
  double s = 0;
  for (int d = 0; d < D; ++d) s += at(a, R1, h, d) * at(b2, R2, h, d);
  return s;
}
double rowv(const V& a, int b, int h, int r, int d) { int R = b * T + r; return R < B * T ? at(a, R, h, d) : 0; }

double run(int B_, int T_, int H_, int D_, std::vector<double> slopes, unsigned seed) {
  B = B_, T = T_, H = H_, D = D_;
  std::mt19937 gen(seed); std::normal_distribution<double> nd;
  size_t n = size_t(B) * T * H * D;
  q.assign(n, 0); k.assign(n, 0); v.assign(n, 0); dO.assign(n, 0);
  for (auto* a : {&q, &k, &v, &dO}) for (auto& x : *a) x = nd(gen);
  V rq(n), rk(n), rv(n), lse(size_t(B) * H * T), delta(size_t(B) * H * T);
  for (int b = 0; b < B; ++b) for (int h = 0; h < H; ++h) {
    std::vector<V> P(T, V(T, 0));
    for (int i = 0; i < T; ++i) {
      double m = -INFINITY; V s(T);
      for (int j = 0; j <= i; ++j) { s[j] = dotrows(q, k, b, h, i, j) / std::sqrt(D) - slopes[h] * (i - j); m = std::max(m, s[j]); }
      double l = 0; for (int j = 0; j <= i; ++j) l += std::exp(s[j] - m);
      lse[(b * H + h) * T + i] = m + std::log(l);
      for (int j = 0; j <= i; ++j) P[i][j] = std::exp(s[j] - m) / l;
      double dl = 0;
      for (int d = 0; d < D; ++d) { double o = 0; for (int j = 0; j <= i; ++j) o += P[i][j] * rowv(v, b, h, j, d); dl += o * rowv(dO, b, h, i, d); }
      delta[(b * H + h) * T + i] = dl;
    }
    for (int i = 0; i < T; ++i) for (int j = 0; j <= i; ++j) {
      double ds = P[i][j] * (dotrows(dO, v, b, h, i, j) - delta[(b * H + h) * T + i]);
      for (int d = 0; d < D; ++d) {
        rq[((size_t(b) * T + i) * H + h) * D + d] += ds * rowv(k, b, h, j, d) / std::sqrt(D);
        rk[((size_t(b) * T + j) * H + h) * D + d] += ds * rowv(q, b, h, i, d) / std::sqrt(D);
        rv[((size_t(b) * T + j) * H + h) * D + d] += P[i][j] * rowv(dO, b, h, i, d);
      }
    }
  }
  V gq(n, NAN), gk(n, NAN), gv(n, NAN);
  const double scale_log2 = LOG2E / std::sqrt(D);
  const int kStream = 64, kBlock = 128, nblocks = (T + kBlock - 1) / kBlock;
  for (int b = 0; b < B; ++b) for (int h = 0; h < H; ++h) {
    const double sl2 = slopes[h] * LOG2E;
    const double* lse_row = &lse[(b * H + h) * T]; const double* delta_row = &delta[(b * H + h) * T];
    for (int blk = 0; blk < nblocks; ++blk) {  // dK/dV
      const int n0 = blk * kBlock, n_tiles = (T - n0 + kStream - 1) / kStream;
      for (int cons = 0; cons < 2; ++cons) for (int w = 0; w < 4; ++w) {
        const int key_wg = n0 + 64 * cons, key0 = key_wg + 16 * w;
        V dk(16 * D, 0), dv(16 * D, 0);  // the warp's 16 rows (wgmma accumulators)
        for (int tile = 0; tile < n_tiles; ++tile) {
          const int m0 = n0 + tile * kStream;
          if (m0 + kStream - 1 < key_wg) continue;
          double s_lse[64], s_delta[64];
          for (int lane2 = 1; lane2 < 32; ++lane2) for (int kk = 0; kk < (kStream + 30) / 31; ++kk) {
            int r = lane2 - 1 + 31 * kk; bool valid = r < kStream && m0 + r < T;
            if (r < kStream) { s_lse[r] = valid ? lse_row[m0 + r] * LOG2E : INFINITY; s_delta[r] = valid ? delta_row[m0 + r] : 0; }
          }
          double P[16][64], DS[16][64];
          for (int lane = 0; lane < 32; ++lane) {
            const int g = lane / 4, t = lane % 4;
            const bool mask = m0 < key_wg + 63;
            const int rel0 = key0 + g - m0 - 2 * t; const double bias0 = sl2 * rel0;
            for (int c = 0; c < kStream / 8; ++c) for (int e = 0; e < 4; ++e) {
              const int kk = 8 * (e / 2) - 8 * c - (e % 2);
              const int j = key0 + g + 8 * (e / 2), i = m0 + 8 * c + 2 * t + e % 2, col = 8 * c + 2 * t + e % 2;
              assert(rel0 + kk == j - i);
              const double val = dotrows(k, q, b, h, j, i) * scale_log2 + (sl2 * kk + bias0) - s_lse[col];
              const double p = (mask && rel0 + kk > 0) ? 0.0 : std::exp2(val);
              if (!mask) assert(j <= i);
              P[g + 8 * (e / 2)][col] = p;
              DS[g + 8 * (e / 2)][col] = p * (dotrows(v, dO, b, h, j, i) - s_delta[col]);
            }
          }
          for (int r = 0; r < 16; ++r) for (int col = 0; col < 64; ++col) for (int d = 0; d < D; ++d) {
            dv[r * D + d] += P[r][col] * rowv(dO, b, h, m0 + col, d);
            dk[r * D + d] += DS[r][col] * rowv(q, b, h, m0 + col, d);
          }
        }
        for (int lane = 0; lane < 32; ++lane) {
          const int g = lane / 4, t = lane % 4;
          for (int half = 0; half < 2; ++half) {
            const int j = key0 + g + 8 * half;
            if (j < T) for (int c = 0; c < D / 8; ++c) for (int x = 0; x < 2; ++x) {
              const int d = 8 * c + 2 * t + x; const size_t o = ((size_t(b) * T + j) * H + h) * D + d;
              gk[o] = dk[(g + 8 * half) * D + d] / std::sqrt(D); gv[o] = dv[(g + 8 * half) * D + d];
            }
          }
        }
      }
    }
    for (int by = 0; by < nblocks; ++by) {  // dQ
      const int m0 = (nblocks - 1 - by) * kBlock, key_end = std::min(T, m0 + kBlock), n_tiles = (key_end + kStream - 1) / kStream;
      for (int cons = 0; cons < 2; ++cons) for (int w = 0; w < 4; ++w) {
        const int q_wg = m0 + 64 * cons, row0 = q_wg + 16 * w;
        V dq(16 * D, 0);
        for (int tile = 0; tile < n_tiles; ++tile) {
          const int n0 = tile * kStream;
          if (n0 > q_wg + 63) continue;
          const bool mask = n0 + kStream - 1 > q_wg;
          double DS[16][64];
          for (int lane = 0; lane < 32; ++lane) {
            const int g = lane / 4, t = lane % 4;
            double rl[2], rd[2];
            for (int hf = 0; hf < 2; ++hf) { int i = row0 + g + 8 * hf; rl[hf] = i < T ? lse_row[i] * LOG2E : INFINITY; rd[hf] = i < T ? delta_row[i] : 0; }
            const int rel0 = n0 - row0 + 2 * t - g; const double bias0 = sl2 * rel0;
            for (int c = 0; c < kStream / 8; ++c) for (int e = 0; e < 4; ++e) {
              const int kk = 8 * c + (e % 2) - 8 * (e / 2);
              const int i = row0 + g + 8 * (e / 2), j = n0 + 8 * c + 2 * t + e % 2;
              assert(rel0 + kk == j - i);
              double val = dotrows(q, k, b, h, i, j) * scale_log2 + (sl2 * kk + bias0);
              if (mask && rel0 + kk > 0) val = -INFINITY;
              if (!mask) assert(j <= i);
              const double p = std::exp2(val - rl[e / 2]);
              DS[g + 8 * (e / 2)][8 * c + 2 * t + e % 2] = p * (dotrows(dO, v, b, h, i, j) - rd[e / 2]);
            }
          }
          for (int r = 0; r < 16; ++r) for (int col = 0; col < 64; ++col) for (int d = 0; d < D; ++d)
            dq[r * D + d] += DS[r][col] * rowv(k, b, h, n0 + col, d);
        }
        for (int lane = 0; lane < 32; ++lane) {
          const int g = lane / 4, t = lane % 4;
          for (int half = 0; half < 2; ++half) {
            const int i = row0 + g + 8 * half;
            if (i < T) for (int c = 0; c < D / 8; ++c) for (int x = 0; x < 2; ++x) {
              const int d = 8 * c + 2 * t + x;
              gq[((size_t(b) * T + i) * H + h) * D + d] = dq[(g + 8 * half) * D + d] / std::sqrt(D);
            }
          }
        }
      }
    }
  }
  double worst = 0;
  const V* gots[3] = {&gq, &gk, &gv}; const V* refs[3] = {&rq, &rk, &rv};
  for (int p = 0; p < 3; ++p) {
    double mx = 0, err = 0;
    for (size_t i = 0; i < n; ++i) {
      if (std::isnan((*gots[p])[i])) { std::printf("part %d element %zu unwritten\n", p, i); return 1e9; }
      mx = std::max(mx, std::fabs((*refs[p])[i])); err = std::max(err, std::fabs((*gots[p])[i] - (*refs[p])[i]));
    }
    std::printf("  part %d err %g max %g\n", p, err, mx);
    worst = std::max(worst, err / mx);
  }
  return worst;
}
int main() {
  struct C { int B, T, H; } cases[] = {{1, 1, 1}, {2, 7, 2}, {1, 63, 1}, {1, 64, 1}, {2, 65, 1}, {1, 127, 1}, {1, 128, 1}, {2, 129, 2}, {2, 257, 1}, {1, 300, 2}, {2, 513, 1}, {1, 1000, 2}};
  for (auto c : cases) {
    std::vector<double> sl = {0.5, 0.0};
    sl.resize(c.H);
    std::printf("B=%d T=%d H=%d: max rel err %.3g\n", c.B, c.T, c.H, run(c.B, c.T, c.H, 16, sl, c.T));
    std::fflush(stdout);
  }
}
