// Our model as a Hugging Face BLOOM model (transformers' BloomForCausalLM).
//
// Why BLOOM: of the transformer families that implement ALiBi, BLOOM computes
// what our model computes: pre-LayerNorm blocks with biases, tanh-approximated
// GELU, an MLP of 4 x d_model, a tied LM head, and the paper's slopes, also
// for head counts that are not a power of two. It adds a LayerNorm after the
// embedding, which our model has as model.embed_layernorm. (MPT has no
// biases, exact-erf GELU and its own slope rule for other head counts.)
//
// The tensors differ only in names and in the fused QKV projection's row
// order: ours is [q | k | v] with heads inside each, BLOOM's is per head
// [h][q, k, v][d].
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/params.h"

namespace alibi {

// Why `shape` cannot be written as BLOOM, or "" when it can.
std::string bloom_incompatibility(const ModelShape& shape);

// config.json for transformers; `dtype` is "float32" or "bfloat16".
nlohmann::json bloom_config(const ModelShape& shape, const std::string& dtype);
// The model shape a BLOOM config describes; throws std::runtime_error naming
// `origin` and the field when it is missing, out of range or unsupported.
ModelShape shape_from_bloom_config(const nlohmann::json& config, const std::string& origin);

// BLOOM's name of one of our parameters (parameter_layout names).
std::string bloom_tensor_name(const std::string& our_name);
// Whether the parameter is the fused QKV projection, whose rows reorder.
bool is_fused_qkv(const std::string& our_name);

// Rows of a fused QKV weight [3C, cols] (cols = C; 1 for the bias) from our
// order to BLOOM's, and back.
std::vector<float> qkv_rows_to_bloom(const std::vector<float>& ours, int64_t n_head, int64_t head_dim, int64_t cols);
std::vector<float> qkv_rows_from_bloom(const std::vector<float>& bloom, int64_t n_head, int64_t head_dim, int64_t cols);

}  // namespace alibi
