#include "bench/bench_util.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "backend/select.h"
#include "bench/bench.h"
#include "config/config.h"
#include "core/random.h"

namespace alibi {

DeviceTensor::DeviceTensor(Backend& backend, std::vector<int64_t> shape, DType dtype) {
  t = Tensor(nullptr, std::move(shape), dtype, backend.device());
  buffer = backend.allocate(t.nbytes());
  t.data = buffer->data();
}

void fill_uniform(Backend& backend, const Tensor& t, uint64_t seed) {
  std::vector<float> host(t.numel());
  Rng rng(seed);
  for (float& x : host) x = static_cast<float>(2.0 * rng.uniform() - 1.0);
  if (t.dtype == DType::F32) return backend.upload(t, host.data());
  DeviceTensor staging(backend, t.shape, DType::F32);  // converted on the device
  backend.upload(staging.t, host.data());
  backend.copy(t, staging.t);
}

Config load_bench_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::vector<std::string> all = {"data.dir=(unused by alibi-bench)"};
  all.insert(all.end(), overrides.begin(), overrides.end());
  Config config = load_config(path, all);
  if (config.model.vocab_size <= 0) throw ConfigError(path + ": alibi-bench needs model.vocab_size > 0");
  return config;
}

double median_seconds(std::vector<double> seconds) {
  std::sort(seconds.begin(), seconds.end());
  return seconds.empty() ? 0.0 : seconds[seconds.size() / 2];
}

double median_timed(Backend& backend, int warmup, int reps, const std::function<void()>& fn) {
  // Each sample times a few back-to-back calls, so the host's wait for the
  // device is a small part of it even for sub-millisecond kernels.
  constexpr int kCallsPerSample = 4;
  for (int i = 0; i < warmup; ++i) fn();
  backend.synchronize();
  std::vector<double> seconds;
  for (int i = 0; i < reps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    for (int c = 0; c < kCallsPerSample; ++c) fn();
    backend.synchronize();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    seconds.push_back(elapsed / kCallsPerSample);
  }
  return median_seconds(seconds);
}

std::unique_ptr<Backend> make_bench_backend(const std::string& device, bool deterministic,
                                            const std::string& attention_forward,
                                            const std::string& attention_backward) {
  const auto choice = parse_device_choice(device);
  if (!choice) throw std::invalid_argument("--device " + device + ": expected auto, cpu or cuda");
  const auto forward = parse_attention_kernel(attention_forward), backward = parse_attention_kernel(attention_backward);
  if (!forward) throw std::invalid_argument("--kernel " + attention_forward + ": expected auto, portable or sm90");
  if (!backward)
    throw std::invalid_argument("--backward-kernel " + attention_backward + ": expected auto, portable or sm90");
  RuntimeConfig runtime;
  runtime.device = *choice;
  runtime.deterministic = deterministic;
  runtime.attention_forward = *forward;
  runtime.attention_backward = *backward;
  return make_backend(runtime);
}

}  // namespace alibi
