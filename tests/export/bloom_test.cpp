// The BLOOM mapping: names, the fused QKV row order, what can be exported,
// and configs read back.
#include "export/bloom.h"

#include <gtest/gtest.h>

#include <set>

#include "export/export_test_shape.h"

namespace alibi {
namespace {

using testing::exportable_shape;

TEST(Bloom, EveryParameterHasItsOwnBloomName) {
  std::set<std::string> names;
  for (const ParamSpec& spec : parameter_layout(exportable_shape()))
    EXPECT_TRUE(names.insert(bloom_tensor_name(spec.name)).second) << spec.name;
  EXPECT_EQ(bloom_tensor_name("wte"), "transformer.word_embeddings.weight");
  EXPECT_EQ(bloom_tensor_name("embed_ln.bias"), "transformer.word_embeddings_layernorm.bias");
  EXPECT_EQ(bloom_tensor_name("blocks.1.attn.qkv.weight"), "transformer.h.1.self_attention.query_key_value.weight");
  EXPECT_EQ(bloom_tensor_name("blocks.0.mlp.out.bias"), "transformer.h.0.mlp.dense_4h_to_h.bias");
  EXPECT_EQ(bloom_tensor_name("lnf.weight"), "transformer.ln_f.weight");
  EXPECT_THROW(bloom_tensor_name("wpe"), std::invalid_argument);
  EXPECT_THROW(bloom_tensor_name("blocks.0.attn.rope"), std::invalid_argument);
  EXPECT_TRUE(is_fused_qkv("blocks.3.attn.qkv.bias"));
  EXPECT_FALSE(is_fused_qkv("blocks.3.attn.proj.bias"));
}

TEST(Bloom, FusedQkvRowsGoPerHead) {
  const int64_t H = 3, D = 2, cols = 2;
  std::vector<float> ours(3 * H * D * cols);
  for (size_t i = 0; i < ours.size(); ++i) ours[i] = static_cast<float>(i);
  const std::vector<float> bloom = qkv_rows_to_bloom(ours, H, D, cols);
  // BLOOM's row (h, part, d) is our row (part, h, d).
  for (int64_t h = 0; h < H; ++h)
    for (int64_t part = 0; part < 3; ++part)
      for (int64_t d = 0; d < D; ++d)
        for (int64_t c = 0; c < cols; ++c)
          EXPECT_EQ(bloom[((h * 3 + part) * D + d) * cols + c], ours[((part * H + h) * D + d) * cols + c]);
  EXPECT_EQ(qkv_rows_from_bloom(bloom, H, D, cols), ours);
  EXPECT_THROW(qkv_rows_to_bloom(std::vector<float>(5), H, D, cols), std::invalid_argument);
}

TEST(Bloom, OnlyModelsBloomComputesAreExported) {
  ModelShape s = exportable_shape();
  EXPECT_EQ(bloom_incompatibility(s), "");
  s.position = PositionMethod::Rotary;
  EXPECT_NE(bloom_incompatibility(s).find("rotary"), std::string::npos);
  s = exportable_shape();
  s.embed_layernorm = false;
  EXPECT_NE(bloom_incompatibility(s).find("model.embed_layernorm"), std::string::npos);
  s = exportable_shape();
  s.d_ff = 36;
  EXPECT_NE(bloom_incompatibility(s).find("4 x d_model"), std::string::npos);
}

TEST(Bloom, ConfigsReadBackToTheSameShape) {
  const ModelShape s = exportable_shape();
  const ModelShape back = shape_from_bloom_config(bloom_config(s, "float32"), "config.json");
  EXPECT_EQ(back.position, PositionMethod::Alibi);
  EXPECT_TRUE(back.embed_layernorm);
  EXPECT_EQ(back.n_layer, s.n_layer);
  EXPECT_EQ(back.d_model, s.d_model);
  EXPECT_EQ(back.n_head, s.n_head);
  EXPECT_EQ(back.d_ff, s.d_ff);
  EXPECT_EQ(back.vocab, s.vocab);
  EXPECT_EQ(back.layernorm_eps, s.layernorm_eps);
  // BLOOM's older spellings.
  const nlohmann::json old = {{"model_type", "bloom"}, {"n_embed", 64}, {"num_hidden_layers", 2},
                              {"num_attention_heads", 4}, {"vocab_size", 100}};
  EXPECT_EQ(shape_from_bloom_config(old, "old").d_model, 64);
}

TEST(Bloom, BadConfigsNameTheField) {
  auto refused = [](nlohmann::json config, const std::string& reason) {
    try {
      shape_from_bloom_config(config, "dir/config.json");
      ADD_FAILURE() << "accepted: " << config.dump();
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("dir/config.json"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
    }
  };
  const nlohmann::json good = bloom_config(exportable_shape(), "float32");
  nlohmann::json c = good;
  c["model_type"] = "mpt";
  refused(c, "model_type");
  c = good;
  c["n_head"] = 0;
  refused(c, "n_head = 0");
  c = good;
  c["n_head"] = 5;
  refused(c, "not a multiple of n_head");
  c = good;
  c["hidden_size"] = 3.9e19;
  refused(c, "hidden_size");
  c = good;
  c.erase("vocab_size");
  refused(c, "no vocab_size");
  c = good;
  c["layer_norm_epsilon"] = -1;
  refused(c, "layer_norm_epsilon");
  c = good;
  c["apply_residual_connection_post_layernorm"] = true;
  refused(c, "apply_residual_connection_post_layernorm");
}

}  // namespace
}  // namespace alibi
