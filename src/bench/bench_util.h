// Small pieces the benchmarks share: device buffers, random fills, timing.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "config/config.h"

namespace alibi {

// A tensor with its own memory on a backend.
struct DeviceTensor {
  DeviceTensor(Backend& backend, std::vector<int64_t> shape, DType dtype);
  std::unique_ptr<Buffer> buffer;
  Tensor t;
};

// Uniform values in [-1, 1), deterministic in `seed`, in t's dtype.
void fill_uniform(Backend& backend, const Tensor& t, uint64_t seed);

// Median time of one call of fn over `reps` samples (each a few calls and a
// synchronize), after `warmup` calls.
double median_timed(Backend& backend, int warmup, int reps, const std::function<void()>& fn);

// A config for a benchmark on random tokens: no dataset is read, so
// model.vocab_size must be given (throws ConfigError naming the file).
Config load_bench_config(const std::string& path, const std::vector<std::string>& overrides);

// "auto", "cpu" or "cuda"; throws naming the value otherwise.
std::unique_ptr<Backend> make_bench_backend(const std::string& device, bool deterministic = false,
                                            const std::string& attention_forward = "auto",
                                            const std::string& attention_backward = "auto");

}  // namespace alibi
