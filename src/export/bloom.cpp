#include "export/bloom.h"

#include <cstring>
#include <map>
#include <stdexcept>

#include "train/checkpoint.h"

namespace alibi {
namespace {

using nlohmann::json;

// Our per-block parameter names (after "blocks.<l>.") and BLOOM's.
const std::map<std::string, std::string>& block_names() {
  static const std::map<std::string, std::string> names = {
      {"ln1.weight", "input_layernorm.weight"},
      {"ln1.bias", "input_layernorm.bias"},
      {"attn.qkv.weight", "self_attention.query_key_value.weight"},
      {"attn.qkv.bias", "self_attention.query_key_value.bias"},
      {"attn.proj.weight", "self_attention.dense.weight"},
      {"attn.proj.bias", "self_attention.dense.bias"},
      {"ln2.weight", "post_attention_layernorm.weight"},
      {"ln2.bias", "post_attention_layernorm.bias"},
      {"mlp.fc.weight", "mlp.dense_h_to_4h.weight"},
      {"mlp.fc.bias", "mlp.dense_h_to_4h.bias"},
      {"mlp.out.weight", "mlp.dense_4h_to_h.weight"},
      {"mlp.out.bias", "mlp.dense_4h_to_h.bias"}};
  return names;
}

const std::map<std::string, std::string>& model_names() {
  static const std::map<std::string, std::string> names = {
      {"wte", "word_embeddings.weight"},
      {"embed_ln.weight", "word_embeddings_layernorm.weight"},
      {"embed_ln.bias", "word_embeddings_layernorm.bias"},
      {"lnf.weight", "ln_f.weight"},
      {"lnf.bias", "ln_f.bias"}};
  return names;
}

// A positive integer field, under any of its names (BLOOM configs use
// several spellings: hidden_size or n_embed, n_layer or num_hidden_layers).
int64_t positive_field(const json& config, std::initializer_list<const char*> names, const std::string& origin,
                       int64_t max_value) {
  for (const char* name : names) {
    if (!config.contains(name)) continue;
    const json& v = config.at(name);
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > max_value)
      throw std::runtime_error(origin + ": " + name + " = " + v.dump() + " must be an integer in [1, " +
                               std::to_string(max_value) + "]");
    return v.get<int64_t>();
  }
  throw std::runtime_error(origin + ": no " + *names.begin() + " field");
}

// Row r of the fused projection in our order is (part, head, d); BLOOM's
// order is (head, part, d). `to_bloom` says which way to move.
std::vector<float> reorder_qkv(const std::vector<float>& in, int64_t H, int64_t D, int64_t cols, bool to_bloom) {
  if (static_cast<int64_t>(in.size()) != 3 * H * D * cols)
    throw std::invalid_argument("fused QKV tensor has " + std::to_string(in.size()) + " values, not 3 * C * cols");
  std::vector<float> out(in.size());
  for (int64_t part = 0; part < 3; ++part)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t d = 0; d < D; ++d) {
        const int64_t ours = (part * H + h) * D + d, bloom = (h * 3 + part) * D + d;
        const int64_t from = to_bloom ? ours : bloom, to = to_bloom ? bloom : ours;
        std::memcpy(&out[to * cols], &in[from * cols], cols * sizeof(float));
      }
  return out;
}

}  // namespace

std::string bloom_incompatibility(const ModelShape& s) {
  if (s.position != PositionMethod::Alibi)
    return std::string("BLOOM uses ALiBi; this model uses model.position = ") + position_method_name(s.position);
  if (!s.embed_layernorm)
    return "BLOOM has a LayerNorm after the embedding; this model was trained without it "
           "(train with model.embed_layernorm = true to make an exportable model)";
  if (s.d_ff != 4 * s.d_model)
    return "BLOOM's MLP is 4 x d_model = " + std::to_string(4 * s.d_model) + " wide; this model's is " +
           std::to_string(s.d_ff);
  return "";
}

json bloom_config(const ModelShape& s, const std::string& dtype) {
  return {{"architectures", {"BloomForCausalLM"}},
          {"model_type", "bloom"},
          {"vocab_size", s.vocab},
          {"hidden_size", s.d_model},
          {"n_layer", s.n_layer},
          {"n_head", s.n_head},
          {"layer_norm_epsilon", s.layernorm_eps},
          {"hidden_dropout", 0.0},
          {"attention_dropout", 0.0},
          {"apply_residual_connection_post_layernorm", false},
          {"slow_but_exact", false},
          {"pretraining_tp", 1},
          {"tie_word_embeddings", true},
          {"use_cache", true},
          {"torch_dtype", dtype}};
}

ModelShape shape_from_bloom_config(const json& config, const std::string& origin) {
  if (!config.is_object() || !config.contains("model_type") || config.at("model_type") != "bloom")
    throw std::runtime_error(origin + ": model_type must be \"bloom\" (the only ALiBi family alibi-lm reads)");
  if (config.value("apply_residual_connection_post_layernorm", false))
    throw std::runtime_error(origin + ": apply_residual_connection_post_layernorm = true is not supported");
  if (!config.value("tie_word_embeddings", true))
    throw std::runtime_error(origin + ": tie_word_embeddings = false is not supported (the LM head is tied)");
  ModelShape s;
  s.position = PositionMethod::Alibi;
  s.embed_layernorm = true;
  constexpr int64_t kMaxDim = 1 << 20, kMaxVocab = 1 << 24;
  s.d_model = positive_field(config, {"hidden_size", "n_embed"}, origin, kMaxDim);
  s.n_layer = positive_field(config, {"n_layer", "num_hidden_layers"}, origin, 4096);
  s.n_head = positive_field(config, {"n_head", "num_attention_heads"}, origin, kMaxDim);
  s.vocab = positive_field(config, {"vocab_size"}, origin, kMaxVocab);
  if (s.d_model % s.n_head != 0)
    throw std::runtime_error(origin + ": hidden_size " + std::to_string(s.d_model) + " is not a multiple of n_head " +
                             std::to_string(s.n_head));
  s.d_ff = 4 * s.d_model;
  const json eps = config.value("layer_norm_epsilon", json(1e-5));
  if (!eps.is_number() || !(eps.get<double>() > 0 && eps.get<double>() < 1))
    throw std::runtime_error(origin + ": layer_norm_epsilon = " + eps.dump() + " must be in (0, 1)");
  s.layernorm_eps = eps.get<float>();
  // And every range a checkpoint's model header must meet (the config schema's).
  return model_shape_from_json(model_shape_to_json(s), origin);
}

std::string bloom_tensor_name(const std::string& ours) {
  if (const auto it = model_names().find(ours); it != model_names().end()) return "transformer." + it->second;
  const std::string prefix = "blocks.";
  const size_t dot = ours.find('.', prefix.size());
  if (ours.rfind(prefix, 0) == 0 && dot != std::string::npos) {
    const auto it = block_names().find(ours.substr(dot + 1));
    if (it != block_names().end())
      return "transformer.h." + ours.substr(prefix.size(), dot - prefix.size()) + "." + it->second;
  }
  throw std::invalid_argument("parameter '" + ours + "' has no BLOOM counterpart");
}

bool is_fused_qkv(const std::string& ours) {
  return ours.ends_with(".attn.qkv.weight") || ours.ends_with(".attn.qkv.bias");
}

std::vector<float> qkv_rows_to_bloom(const std::vector<float>& ours, int64_t H, int64_t D, int64_t cols) {
  return reorder_qkv(ours, H, D, cols, /*to_bloom=*/true);
}

std::vector<float> qkv_rows_from_bloom(const std::vector<float>& bloom, int64_t H, int64_t D, int64_t cols) {
  return reorder_qkv(bloom, H, D, cols, /*to_bloom=*/false);
}

}  // namespace alibi
