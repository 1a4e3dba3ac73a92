#include "model/params.h"

#include <cmath>
#include <stdexcept>

#include "core/random.h"

namespace alibi {

ModelShape resolve_model_shape(const Config& config, int64_t data_vocab) {
  const ModelConfig& m = config.model;
  ModelShape s;
  s.position = m.position;
  s.n_layer = m.n_layer;
  s.d_model = m.d_model;
  s.n_head = m.n_head;
  s.d_ff = config.d_ff();
  s.vocab = m.vocab_size ? m.vocab_size : data_vocab;
  if (s.vocab < data_vocab)
    throw ConfigError("model.vocab_size = " + std::to_string(m.vocab_size) +
                      " is smaller than the data's vocabulary (" + std::to_string(data_vocab) + ")");
  s.max_position = m.position == PositionMethod::Learned
                       ? (m.max_position ? m.max_position : config.train.seq_len)
                       : 0;
  s.layernorm_eps = m.layernorm_eps;
  s.rotary_base = m.rotary_base;
  s.dropout = m.dropout;
  s.embed_layernorm = m.embed_layernorm;
  return s;
}

int64_t ParamSpec::numel() const { return shape_numel(shape); }

std::vector<ParamSpec> parameter_layout(const ModelShape& s) {
  const int64_t C = s.d_model, F = s.d_ff;
  std::vector<ParamSpec> layout;
  auto add = [&](std::string name, std::vector<int64_t> shape, DecayGroup group) {
    layout.push_back({std::move(name), std::move(shape), group, 0});
  };
  add("wte", {s.vocab, C}, DecayGroup::Embedding);
  if (s.position == PositionMethod::Learned) add("wpe", {s.max_position, C}, DecayGroup::Embedding);
  if (s.embed_layernorm) {
    add("embed_ln.weight", {C}, DecayGroup::NormOrBias);
    add("embed_ln.bias", {C}, DecayGroup::NormOrBias);
  }
  for (int64_t l = 0; l < s.n_layer; ++l) {
    const std::string p = "blocks." + std::to_string(l) + ".";
    add(p + "ln1.weight", {C}, DecayGroup::NormOrBias);
    add(p + "ln1.bias", {C}, DecayGroup::NormOrBias);
    add(p + "attn.qkv.weight", {3 * C, C}, DecayGroup::Matrix);
    add(p + "attn.qkv.bias", {3 * C}, DecayGroup::NormOrBias);
    add(p + "attn.proj.weight", {C, C}, DecayGroup::Matrix);
    add(p + "attn.proj.bias", {C}, DecayGroup::NormOrBias);
    add(p + "ln2.weight", {C}, DecayGroup::NormOrBias);
    add(p + "ln2.bias", {C}, DecayGroup::NormOrBias);
    add(p + "mlp.fc.weight", {F, C}, DecayGroup::Matrix);
    add(p + "mlp.fc.bias", {F}, DecayGroup::NormOrBias);
    add(p + "mlp.out.weight", {C, F}, DecayGroup::Matrix);
    add(p + "mlp.out.bias", {C}, DecayGroup::NormOrBias);
  }
  add("lnf.weight", {C}, DecayGroup::NormOrBias);
  add("lnf.bias", {C}, DecayGroup::NormOrBias);

  // Offsets aligned to 64 elements so every tensor starts on a cache line
  // (and, later, a 128-byte boundary for bf16 vector loads on the GPU).
  int64_t offset = 0;
  for (ParamSpec& spec : layout) {
    spec.offset = offset;
    offset += (spec.numel() + 63) / 64 * 64;
  }
  return layout;
}

std::string first_nonfinite_parameter(const std::vector<ParamSpec>& layout, const std::vector<float>& flat) {
  for (const ParamSpec& spec : layout)
    for (int64_t i = 0; i < spec.numel(); ++i)
      if (!std::isfinite(flat[spec.offset + i])) return spec.name;
  return "";
}

int64_t total_numel(const std::vector<ParamSpec>& layout) {
  if (layout.empty()) return 0;
  return (layout.back().offset + layout.back().numel() + 63) / 64 * 64;
}

Tensor param_view(const ParamSpec& spec, void* base, DType dtype, Device device) {
  auto* bytes = static_cast<char*>(base) + spec.offset * static_cast<int64_t>(dtype_size(dtype));
  return Tensor(bytes, spec.shape, dtype, device);
}

ModelParams bind_params(const std::vector<ParamSpec>& layout, void* base, DType dtype, Device device) {
  ModelParams p;
  size_t i = 0;
  auto next = [&]() { return param_view(layout.at(i++), base, dtype, device); };
  p.wte = next();
  if (layout.at(i).name == "wpe") p.wpe = next();
  if (layout.at(i).name == "embed_ln.weight") p.embed_ln_weight = next(), p.embed_ln_bias = next();
  while (layout.at(i).name.rfind("blocks.", 0) == 0) {
    BlockParams b;
    b.ln1_weight = next(), b.ln1_bias = next();
    b.qkv_weight = next(), b.qkv_bias = next();
    b.proj_weight = next(), b.proj_bias = next();
    b.ln2_weight = next(), b.ln2_bias = next();
    b.fc_weight = next(), b.fc_bias = next();
    b.out_weight = next(), b.out_bias = next();
    p.blocks.push_back(b);
  }
  p.lnf_weight = next(), p.lnf_bias = next();
  if (i != layout.size()) throw std::logic_error("parameter layout has unbound tensors");
  return p;
}

static bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<float> init_parameters(const std::vector<ParamSpec>& layout, const ModelShape& shape,
                                   float init_std, uint64_t seed) {
  std::vector<float> values(total_numel(layout), 0.f);
  const double residual_std = init_std / std::sqrt(2.0 * shape.n_layer);
  // One random stream per tensor (layout changes stay local), so the tensors
  // can be drawn in parallel and the values do not depend on the thread
  // count: at ~50 ns a draw, a 2.7B model's 2.6e9 draws took about two and
  // a half minutes on one core (most of each 2.7B benchmark run's wall time).
  const int64_t tensors = static_cast<int64_t>(layout.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t t = 0; t < tensors; ++t) {
    const ParamSpec& spec = layout[static_cast<size_t>(t)];
    float* w = values.data() + spec.offset;
    if (spec.group == DecayGroup::NormOrBias) {
      // LayerNorm weights start at 1; every bias starts at 0.
      const bool is_norm_weight = ends_with(spec.name, "weight");
      for (int64_t i = 0; i < spec.numel(); ++i) w[i] = is_norm_weight ? 1.f : 0.f;
      continue;
    }
    // GPT-2: projections into the residual stream are scaled down by depth.
    const bool residual_out = ends_with(spec.name, "attn.proj.weight") || ends_with(spec.name, "mlp.out.weight");
    const double std = residual_out ? residual_std : init_std;
    Rng rng(derive_seed(seed, 0x1417, static_cast<uint64_t>(t)));
    for (int64_t i = 0; i < spec.numel(); ++i) w[i] = static_cast<float>(std * rng.normal());
  }
  return values;
}

}  // namespace alibi
