#include <algorithm>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "bench/bench.h"
#include "bench/bench_util.h"
#include "backend/select.h"
#include "config/config.h"
#include "core/random.h"
#include "model/model.h"

namespace alibi {

int bench_eval(const EvalBenchOptions& o) {
  const Config config = load_bench_config(o.config_path, o.overrides);  // random tokens
  auto backend = make_backend(config.runtime);
  const ModelShape shape = resolve_model_shape(config, config.model.vocab_size);
  Model model(*backend, shape);
  model.load_parameters(init_parameters(model.layout(), shape, config.model.init_std, config.train.seed));
  const int64_t B = std::max(1, o.tokens / o.len), T = o.len;
  std::vector<int32_t> tokens(B * T), targets(B * T);
  Rng rng(config.train.seed);
  for (int64_t i = 0; i < B * T; ++i) {
    tokens[i] = static_cast<int32_t>(rng.below(shape.vocab));
    targets[i] = static_cast<int32_t>(rng.below(shape.vocab));
  }
  model.reserve(B, T, /*for_training=*/false);
  // Forward and per-token losses, read back: what alibi-eval does per batch.
  const double seconds = median_timed(*backend, o.warmup, o.reps, [&] {
    model.forward(tokens.data(), targets.data(), B, T, /*training=*/false);
  });
  const double tokens_per_s = double(B * T) / seconds;
  std::printf("%s | eval %s | %.1fM params | L %lld x B %lld | %.2f ms | %.0f tok/s | activations %.2f GiB\n",
              backend->name().c_str(), position_method_name(shape.position), model.num_parameters() / 1e6,
              (long long)T, (long long)B, 1e3 * seconds, tokens_per_s, model.activation_bytes() / 1073741824.0);
  if (!o.json_path.empty())
    std::ofstream(o.json_path) << nlohmann::json{{"backend", backend->name()}, {"L", T}, {"B", B},
                                                 {"ms_median", 1e3 * seconds}, {"tokens_per_s", tokens_per_s},
                                                 {"activation_gib", model.activation_bytes() / 1073741824.0}}
                                      .dump(1);
  return 0;
}

}  // namespace alibi
