#include <cstdio>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "backend/select.h"
#include "bench/bench.h"
#include "bench/bench_util.h"
#include "model/alibi_slopes.h"

namespace alibi {

int bench_attention(const AttentionBenchOptions& o) {
  auto backend = make_bench_backend(o.device, o.deterministic, o.forward_kernel, o.backward_kernel);
  Backend& be = *backend;
  const int64_t B = o.batch, T = o.len, H = o.heads, D = o.head_dim, C = H * D;
  const DType act = be.activation_dtype();
  DeviceTensor qkv(be, {B, T, 3, H, D}, act), out(be, {B, T, C}, act), dout(be, {B, T, C}, act);
  DeviceTensor dqkv(be, {B, T, 3, H, D}, act), lse(be, {B, H, T}, DType::F32), slopes(be, {H}, DType::F32);
  fill_uniform(be, qkv.t, 1), fill_uniform(be, dout.t, 2);
  const AttentionShape shape{B, T, H, D};
  // Causal FLOPs, the convention of ../shared/bench/attn_bench.py.
  const double fwd_flops = 4.0 * B * H * double(T) * T * D / 2, bwd_flops = 2.5 * fwd_flops;

  // The CUDA backend's kernels as asked (--kernel, --backward-kernel,
  // --deterministic); recorded as given.
  const std::string bwd_choice = std::string(o.deterministic ? "deterministic" : "fast") +
                                 (o.backward_kernel != "auto" ? ", " + o.backward_kernel : "") +
                                 (o.forward_kernel != "auto" ? ", forward " + o.forward_kernel : "");
  if (o.backward) std::printf("backward: %s\n", bwd_choice.c_str());

  nlohmann::json rows = nlohmann::json::array();
  double fwd_seconds_by_bias[2] = {0, 0};
  for (bool alibi : {true, false}) {
    const std::vector<float> s = alibi ? alibi_slopes(static_cast<int>(H)) : std::vector<float>(H, 0.f);
    be.upload(slopes.t, s.data());
    const double fwd = median_timed(be, o.warmup, o.reps, [&] {
      be.attention_forward(out.t, lse.t, qkv.t, slopes.t, shape);
    });
    fwd_seconds_by_bias[alibi ? 0 : 1] = fwd;
    double bwd = 0;
    if (o.backward)
      bwd = median_timed(be, o.warmup, o.reps, [&] {
        be.attention_backward(dqkv.t, dout.t, qkv.t, out.t, lse.t, slopes.t, shape);
      });
    nlohmann::json row = {{"bias", alibi ? "alibi" : "slope0"}, {"D", D}, {"H", H}, {"L", T}, {"B", B},
                          {"fwd_ms", 1e3 * fwd}, {"fwd_tflops", fwd_flops / fwd / 1e12}};
    std::printf("%s D=%3lld H=%2lld L=%6lld B=%3lld %-6s: fwd %8.3f ms %6.1f TFLOP/s", be.name().c_str(),
                (long long)D, (long long)H, (long long)T, (long long)B, alibi ? "alibi" : "slope0", 1e3 * fwd,
                fwd_flops / fwd / 1e12);
    if (o.backward) {
      row["bwd_ms"] = 1e3 * bwd, row["bwd_tflops"] = bwd_flops / bwd / 1e12;
      row["bwd_kernels"] = bwd_choice;
      row["fwdbwd_tflops"] = (fwd_flops + bwd_flops) / (fwd + bwd) / 1e12;
      std::printf(" | bwd %8.3f ms %6.1f | fwd+bwd %6.1f TFLOP/s", 1e3 * bwd, bwd_flops / bwd / 1e12,
                  (fwd_flops + bwd_flops) / (fwd + bwd) / 1e12);
    }
    std::printf("\n");
    rows.push_back(row);
  }
  std::printf("ALiBi bias cost, forward: %+.1f%% against slope 0\n",
              100.0 * (fwd_seconds_by_bias[0] / fwd_seconds_by_bias[1] - 1.0));
  if (!o.json_path.empty()) std::ofstream(o.json_path) << nlohmann::json{{"backend", be.name()}, {"rows", rows}}.dump(1);
  return 0;
}

}  // namespace alibi
