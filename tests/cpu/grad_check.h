// Helpers shared by the CPU op tests: random inputs and central finite
// differences in double precision.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <omp.h>

#include "core/random.h"

namespace alibi::test {

inline std::vector<double> random_normal(size_t n, uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  std::vector<double> x(n);
  for (double& v : x) v = scale * rng.normal();
  return x;
}

inline std::vector<float> to_float(const std::vector<double>& x) {
  return std::vector<float>(x.begin(), x.end());
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Central differences of loss() with respect to every element of x (x is
// perturbed in place and restored). Step 1e-6: with double rounding
// (~1e-16 relative) the truncation error ~h^2 and the cancellation error
// ~1e-16/h are both around 1e-10 relative to the loss.
// Runs single-threaded: thousands of tiny parallel regions only cost barrier
// time (and a lot of it when other processes share the cores).
inline std::vector<double> numeric_grad(std::vector<double>& x,
                                        const std::function<double()>& loss,
                                        double h = 1e-6) {
  const int saved_threads = omp_get_max_threads();
  omp_set_num_threads(1);
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double plus = loss();
    x[i] = saved - h;
    const double minus = loss();
    x[i] = saved;
    g[i] = (plus - minus) / (2 * h);
  }
  omp_set_num_threads(saved_threads);
  return g;
}

// Max-norm relative error: max_i |a_i - n_i| / max_i |n_i|. The bound 1e-6
// is far above the ~1e-9 finite-difference error in double and far below any
// real mistake (a wrong term is O(1) relative).
constexpr double kFdRelTol = 1e-6;

inline void expect_grad_near(const std::vector<double>& analytic, const std::vector<double>& numeric,
                             const std::string& what, double tol = kFdRelTol) {
  ASSERT_EQ(analytic.size(), numeric.size()) << what;
  double max_err = 0, max_ref = 0;
  for (size_t i = 0; i < numeric.size(); ++i) {
    max_err = std::max(max_err, std::abs(analytic[i] - numeric[i]));
    max_ref = std::max(max_ref, std::abs(numeric[i]));
  }
  ASSERT_GT(max_ref, 1e-6) << what << ": gradient is (nearly) zero, the check would be vacuous";
  EXPECT_LE(max_err / max_ref, tol) << what << ": max abs error " << max_err << ", max |grad| "
                                    << max_ref;
}

// For gradients that must vanish (e.g. q and k with a single key).
inline void expect_zero_grad(const std::vector<double>& analytic, const std::vector<double>& numeric,
                             const std::string& what) {
  for (size_t i = 0; i < analytic.size(); ++i) {
    EXPECT_NEAR(analytic[i], 0.0, 1e-12) << what << "[" << i << "]";
    EXPECT_NEAR(numeric[i], 0.0, 1e-8) << what << "[" << i << "] (finite differences)";
  }
}

// a - b elementwise (used to remove the prefilled value of accumulated gradients).
inline std::vector<double> minus(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return d;
}

}  // namespace alibi::test
