// The model's parameters: a fixed, named layout over one contiguous buffer.
//
// One buffer makes the optimizer, the global gradient norm, checkpoints and
// (later) the gradient all-reduce each a single pass; the layout gives every
// tensor a stable name, shape and weight-decay group for checkpoints and docs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/tensor.h"

namespace alibi {

// What the model looks like, resolved from the config and the dataset.
struct ModelShape {
  PositionMethod position = PositionMethod::Alibi;
  int64_t n_layer = 0, d_model = 0, n_head = 0, d_ff = 0, vocab = 0;
  int64_t max_position = 0;  // rows of the learned position table (learned only)
  float layernorm_eps = 1e-5f;
  float rotary_base = 10000.f;
  float dropout = 0.f;
  bool embed_layernorm = false;  // LayerNorm after the embeddings (BLOOM's word_embeddings_layernorm)

  int64_t head_dim() const { return d_model / n_head; }
};

ModelShape resolve_model_shape(const Config& config, int64_t data_vocab);

enum class DecayGroup { Matrix, Embedding, NormOrBias };

struct ParamSpec {
  std::string name;             // e.g. "blocks.3.attn.qkv.weight"
  std::vector<int64_t> shape;
  DecayGroup group;
  int64_t offset = 0;           // elements from the start of the buffer
  int64_t numel() const;
};

std::vector<ParamSpec> parameter_layout(const ModelShape& shape);
int64_t total_numel(const std::vector<ParamSpec>& layout);

struct BlockParams {
  Tensor ln1_weight, ln1_bias;
  Tensor qkv_weight, qkv_bias;    // [3C, C], [3C]
  Tensor proj_weight, proj_bias;  // [C, C], [C]
  Tensor ln2_weight, ln2_bias;
  Tensor fc_weight, fc_bias;      // [F, C], [F]
  Tensor out_weight, out_bias;    // [C, F], [C]
};

// Named views of a buffer laid out by parameter_layout(); the same struct
// holds parameters or their gradients.
struct ModelParams {
  Tensor wte;  // [V, C], also the (tied) LM head
  Tensor wpe;  // [max_position, C], learned positions only
  Tensor embed_ln_weight, embed_ln_bias;  // model.embed_layernorm only
  std::vector<BlockParams> blocks;
  Tensor lnf_weight, lnf_bias;
};

// Views into `base` (numel total_numel(layout)) with the given dtype/device.
ModelParams bind_params(const std::vector<ParamSpec>& layout, void* base, DType dtype, Device device);
// The view of one spec.
Tensor param_view(const ParamSpec& spec, void* base, DType dtype, Device device);

// The name of the first parameter in `flat` (laid out by `layout`) holding a
// NaN or an infinity, or "" when all are finite.
std::string first_nonfinite_parameter(const std::vector<ParamSpec>& layout, const std::vector<float>& flat);

// GPT-2 style initialisation on the host, deterministic in `seed`: weights
// N(0, std), residual output projections N(0, std / sqrt(2 * n_layer)),
// biases 0, LayerNorm weight 1.
std::vector<float> init_parameters(const std::vector<ParamSpec>& layout, const ModelShape& shape,
                                   float init_std, uint64_t seed);

}  // namespace alibi
