#include "train/grad_sync.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace alibi {

GradientSync::GradientSync(Backend& backend, Communicator& comm, Model& model, const DistConfig& dist)
    : backend_(backend), comm_(comm), model_(model), dist_(dist) {
  // Whole multiples of 64 elements keep every bucket as aligned as the layout.
  const int64_t wanted = static_cast<int64_t>(dist.bucket_mb * 1048576.0 / sizeof(float));
  bucket_elements_ = std::max<int64_t>(64, wanted / 64 * 64);
  const Tensor grads = model.grads_flat();
  if (grads.dtype != DType::F32) throw std::logic_error("GradientSync expects f32 gradients");
  if (dist.reduce_dtype == ReduceDType::Bf16) {
    if (backend.activation_dtype() != DType::BF16)
      throw ConfigError("dist.reduce_dtype = bf16 needs the CUDA backend; the " + backend.name() +
                        " backend reduces in fp32 (set dist.reduce_dtype: fp32)");
    staging_ = backend.allocate(grads.numel() * dtype_size(DType::BF16));
    staging_flat_ = Tensor(staging_->data(), {grads.numel()}, DType::BF16, backend.device());
  }
  unreduced_end_ = grads.numel();
}

void GradientSync::reduce_range(int64_t begin, int64_t end) {
  if (begin >= end) return;
  const std::string what = "all-reduce of gradient bucket " + std::to_string(buckets_) + " (elements " +
                           std::to_string(begin) + ".." + std::to_string(end) + ")";
  ++buckets_;
  Tensor grads = model_.grads_flat().range(begin, end);
  if (!staging_) {
    comm_.all_reduce_sum(grads, what);
    return;
  }
  Tensor staged = staging_flat_.range(begin, end);
  backend_.copy(staged, grads);
  comm_.all_reduce_sum(staged, what);
}

GradsReadyHook GradientSync::hook() {
  unreduced_end_ = model_.grads_flat().numel();
  buckets_ = 0;
  if (!dist_.overlap || dist_.zero1) return {};
  return [this](int64_t first) {
    if ((unreduced_end_ - first) < bucket_elements_) return;
    reduce_range(first, unreduced_end_);
    unreduced_end_ = first;
  };
}

void GradientSync::finish() {
  const Tensor grads = model_.grads_flat();
  if (dist_.zero1) {
    buckets_ = 1;
    const Tensor target = staging_ ? staging_flat_ : grads;
    if (staging_) backend_.copy(staging_flat_, grads);
    comm_.reduce_scatter_sum(target, "reduce-scatter of the gradients");
    comm_.join();
    if (staging_) backend_.copy(grads, staging_flat_);  // only this rank's shard is meaningful
    return;
  }
  // What the hook left (everything without overlap), in buckets from the top.
  while (unreduced_end_ > 0) {
    const int64_t begin = std::max<int64_t>(0, unreduced_end_ - bucket_elements_);
    reduce_range(begin, unreduced_end_);
    unreduced_end_ = begin;
  }
  comm_.join();
  if (staging_) backend_.copy(grads, staging_flat_);
}

}  // namespace alibi
