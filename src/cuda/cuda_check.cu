#include "cuda/cuda_check.cuh"

#include <cstdlib>
#include <stdexcept>

namespace alibi::cuda {

std::string describe_op(const char* op, Dims dims) {
  std::string s = op;
  if (dims.size() == 0) return s;
  s += " [";
  bool first = true;
  for (const Dim& d : dims) {
    if (!first) s += ", ";
    s += std::string(d.first) + "=" + std::to_string(d.second);
    first = false;
  }
  return s + "]";
}

void throw_cuda_error(const char* op, Dims dims, const std::string& error_text) {
  throw std::runtime_error("cuda: " + describe_op(op, dims) + ": " + error_text);
}

bool sync_after_launch() {
  static const bool enabled = [] {
    const char* v = std::getenv("ALIBI_CUDA_SYNC");
    return v && std::string(v) == "1";
  }();
  return enabled;
}

}  // namespace alibi::cuda
