// Generation speed: greedy decoding with the KV cache, one token per row per
// step, after a prompt of `context` tokens, as alibi-generate runs it greedily
// (each row's token chosen on the device and fed back there, only the tokens
// coming back to the host, the device a step ahead: Model::greedy_ahead).
// Beside it, the device's copy bandwidth, and the step time that bandwidth
// allows for the bytes a step must read (the weights once, every row's
// cache), the floor a decoder can reach.
#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "backend/select.h"
#include "bench/bench.h"
#include "bench/bench_util.h"
#include "config/config.h"
#include "core/atomic_file.h"
#include "core/random.h"
#include "export/export_folder.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace alibi {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// Bytes per second of a device-to-device copy (read + write), 1 GiB each way.
double copy_bandwidth(Backend& backend) {
  const int64_t n = (int64_t{1} << 30) / 4;
  DeviceTensor src(backend, {n}, DType::F32), dst(backend, {n}, DType::F32);
  fill_uniform(backend, src.t, 1);
  const double seconds = median_timed(backend, 2, 5, [&] { backend.copy(dst.t, src.t); });
  return 2.0 * static_cast<double>(n) * 4 / seconds;
}

struct DecodeTiming {
  double seconds_per_step;
  size_t cache_bytes;
};

DecodeTiming time_decode(Backend& backend, Model& model, int64_t B, int64_t context, int new_tokens, int reps,
                         uint64_t seed) {
  const ModelShape& shape = model.shape();
  KvCache cache(backend, shape, B, context + new_tokens);
  Rng rng(seed);
  std::vector<int32_t> prompt(context), next(B);
  for (int64_t b = 0; b < B; ++b) {  // one row at a time: the prompt's activations stay small
    for (int32_t& t : prompt) t = static_cast<int32_t>(rng.below(shape.vocab));
    next[b] = model.greedy_cached(prompt.data(), 1, context, cache, b, shape.vocab)[0];
  }
  std::vector<double> seconds;
  for (int rep = 0; rep < reps + 1; ++rep) {  // the first, untimed, warms up
    cache.truncate(0, B, static_cast<int32_t>(context));
    const auto start = std::chrono::steady_clock::now();
    model.greedy_ahead(next.data(), B, cache, 0, shape.vocab, new_tokens,
                       [](int64_t, const std::vector<int32_t>&) { return true; });
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    if (rep > 0) seconds.push_back(elapsed.count() / new_tokens);
  }
  return {median_seconds(seconds), KvCache::bytes_for(shape, backend.activation_dtype(), B, context)};
}

}  // namespace

int bench_decode(const DecodeBenchOptions& o) {
  const Config config = load_bench_config(o.config_path, o.overrides);  // random tokens
  auto backend = make_backend(config.runtime);
  const ModelShape shape = resolve_model_shape(config, config.model.vocab_size);
  Model model(*backend, shape);
  ExportedModel weights;
  weights.shape = shape;
  weights.params = init_parameters(model.layout(), shape, config.model.init_std, config.train.seed);
  weights.train_seq_len = config.train.seq_len;
  model.load_parameters(weights.params);
  model.set_fused_decode_step(o.fused_step);
  if (!o.export_dir.empty()) write_export({.out_dir = o.export_dir}, weights);  // the baselines' copy

  const double bandwidth = copy_bandwidth(*backend);
  const size_t weight_bytes = static_cast<size_t>(model.num_parameters()) * dtype_size(backend->activation_dtype());
  std::printf("%s | decode %s | %.1fM params | copy bandwidth %.0f GB/s\n", backend->name().c_str(),
              position_method_name(shape.position), model.num_parameters() / 1e6, bandwidth / 1e9);
  nlohmann::json results = nlohmann::json::array();
  for (int B : o.batches)
    for (int context : o.contexts) {
      const DecodeTiming t = time_decode(*backend, model, B, context, o.new_tokens, o.reps, config.train.seed);
      const double step_bytes = static_cast<double>(weight_bytes + t.cache_bytes);
      const double bound = step_bytes / bandwidth;
      const char* step_kind = model.last_decode_step_fused() ? "fused" : "op by op";
      std::printf("  B %3d | context %6d | %.3f ms/step | %.0f tok/s | bound %.3f ms (%.2fx) | cache %.2f GiB | %s\n",
                  B, context, 1e3 * t.seconds_per_step, B / t.seconds_per_step, 1e3 * bound,
                  t.seconds_per_step / bound, t.cache_bytes / kGiB, step_kind);
      results.push_back({{"bench", "decode"}, {"backend", backend->name()}, {"batch", B}, {"context", context},
                         {"new_tokens", o.new_tokens}, {"ms_per_token", 1e3 * t.seconds_per_step},
                         {"tokens_per_s", B / t.seconds_per_step}, {"copy_gbs", bandwidth / 1e9},
                         {"bytes_per_step", step_bytes}, {"bandwidth_bound_ms", 1e3 * bound},
                         {"fused_step", model.last_decode_step_fused()}});
      if (!o.json_path.empty()) write_text_atomically(o.json_path, results.dump(1) + "\n");  // kept if a later one fails
    }
  return 0;
}

}  // namespace alibi
