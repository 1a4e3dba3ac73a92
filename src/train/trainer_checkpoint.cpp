// The Trainer's checkpoint side: writing the run's state (rank 0, the ZeRO-1
// moments gathered first) and restoring it on --resume. The file format is
// train/checkpoint.h's.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "train/checkpoint.h"
#include "train/trainer_impl.h"

namespace alibi {

namespace fs = std::filesystem;

void Trainer::restore(const std::string& path) {
  if (path.empty())
    throw CheckpointError("--resume " + options_.resume_from + ": no checkpoint found there" +
                          (fs::exists(options_.resume_from) ? "" : " (no such file or folder)"));
  Checkpoint ckpt = load_checkpoint(path);
  const std::string mismatch = checkpoint_shape_mismatch(ckpt.model, model_->shape());
  if (!mismatch.empty()) throw CheckpointError("cannot resume from '" + path + "': " + mismatch);
  if (ckpt.state.tokenizer_id != dataset_.tokenizer_id)
    throw CheckpointError("cannot resume from '" + path + "': it was trained with tokenizer " +
                          ckpt.state.tokenizer_id + " but data.dir '" + config_.data.dir +
                          "' uses tokenizer " + dataset_.tokenizer_id);
  // `flat` holds flat elements [begin, begin + numel): all of them, or one
  // rank's ZeRO-1 shard. The saved tensors do not depend on the world size.
  auto copy_into = [&](const std::string& prefix, const Tensor& flat, int64_t begin) {
    std::vector<float> host(model_->params_flat().numel(), 0.f);
    for (const ParamSpec& spec : model_->layout()) {
      const LoadedTensor& t = ckpt.tensor(prefix + spec.name);
      if (t.dtype != DType::F32 || t.shape != spec.shape)
        throw CheckpointError("checkpoint '" + path + "': tensor " + prefix + spec.name + " has the wrong shape");
      std::copy(t.f32(), t.f32() + spec.numel(), host.begin() + spec.offset);
    }
    if (const std::string bad = first_nonfinite_parameter(model_->layout(), host); !bad.empty())
      throw CheckpointError("cannot resume from '" + path + "': " + prefix + bad +
                            " holds NaN or infinite values (the run had diverged)");
    backend_->upload(flat, host.data() + begin);
  };
  copy_into("param/", model_->params_flat(), 0);
  copy_into("adam_m/", optimizer_->m_flat(), optimizer_->shard_begin());
  copy_into("adam_v/", optimizer_->v_flat(), optimizer_->shard_begin());
  model_->refresh_working_weights();
  const std::string config_yaml = state_.config_yaml;
  state_ = ckpt.state;
  state_.config_yaml = config_yaml;
  rng_.set_state(state_.rng_state);
}

// ZeRO-1: the full moments on rank 0, one rank's shard at a time through a
// shard-sized buffer (no full-size device copy); "" elsewhere. Collective.
std::vector<float> Trainer::gather_moments(const Tensor& shard) {
  if (!sharded()) {
    if (!is_root()) return {};  // every rank holds the same moments; rank 0 saves them
    std::vector<float> host(shard.numel());
    backend_->download(host.data(), shard);
    return host;
  }
  const int64_t size = shard.numel();
  Tensor staging(gather_buffer_->data(), {size}, DType::F32, backend_->device());
  std::vector<float> host(is_root() ? size * world_ : 0);
  for (int owner = 0; owner < world_; ++owner) {
    if (owner == rank_) backend_->copy(staging, shard);
    comm_->broadcast(staging, owner, "gathering the optimizer state for a checkpoint");
    comm_->join();
    if (is_root()) backend_->download(host.data() + owner * size, staging);
  }
  backend_->synchronize();
  return host;
}

std::string Trainer::save() {
  // Tensors are named "<kind>/<parameter>" and saved without the layout's
  // alignment padding, so other tools can read them by name and shape alone.
  std::vector<float> m = gather_moments(optimizer_->m_flat());
  std::vector<float> v = gather_moments(optimizer_->v_flat());
  if (!is_root()) return "";  // rank 0 alone writes
  std::vector<float> params(model_->params_flat().numel());
  backend_->download(params.data(), model_->params_flat());
  if (const std::string bad = first_nonfinite_parameter(model_->layout(), params); !bad.empty())
    throw std::runtime_error("step " + std::to_string(state_.step) + ": parameter " + bad +
                             " is not finite; no checkpoint is written of non-finite weights");
  std::vector<HostTensorRef> tensors;
  for (auto [prefix, host] : {std::pair{"param/", &params}, {"adam_m/", &m}, {"adam_v/", &v}})
    for (const ParamSpec& spec : model_->layout())
      tensors.push_back({prefix + spec.name, DType::F32, spec.shape, host->data() + spec.offset});
  state_.rng_state = rng_.state();
  return save_checkpoint_in(config_.checkpoint_dir(), config_.checkpoint.keep, state_, model_->shape(), tensors);
}

}  // namespace alibi
