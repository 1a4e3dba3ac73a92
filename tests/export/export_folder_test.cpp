// An exported folder: read back bitwise (f32) or rounded (bf16), refused
// when it cannot be a BLOOM model, and, read as BLOOM reads it (an
// independent fp64 forward written from BLOOM's definition: per-head QKV,
// the ALiBi bias as slope x key position, merged heads), it gives our
// model's logits.
#include "export/export_folder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/bf16.h"
#include "core/random.h"
#include "cpu/cpu_backend.h"
#include "export/export_test_shape.h"
#include "export/safetensors.h"
#include "model/model.h"
#include "support/temp_dir.h"

namespace alibi {
namespace {

using testing::exportable_shape;

ExportedModel random_model(const ModelShape& shape) {
  ExportedModel m;
  m.shape = shape;
  m.params = init_parameters(parameter_layout(shape), shape, 0.4f, 5);
  Rng rng(9);  // LayerNorm weights and biases away from 1 and 0, so a mix-up shows
  for (const ParamSpec& spec : parameter_layout(shape))  // the alignment padding stays zero
    for (int64_t i = 0; i < spec.numel(); ++i) m.params[spec.offset + i] += 0.1f * static_cast<float>(rng.normal());
  m.step = 1234;
  m.train_seq_len = 64;
  m.tokenizer_id = "00112233aabbccdd";
  return m;
}

// ---- BLOOM's forward, from its definition, in fp64 -------------------------

using Matrix = std::vector<double>;  // row-major

struct BloomWeights {
  const SafetensorsFile& file;
  Matrix get(const std::string& name) const {
    const std::vector<float> v = file.read_f32(*file.find("transformer." + name));
    return Matrix(v.begin(), v.end());
  }
};

// BLOOM's slopes: those of the largest power of two n <= H, then every other
// slope of 2n.
std::vector<double> bloom_slopes(int64_t H) {
  int64_t n = 1;
  while (n * 2 <= H) n *= 2;
  std::vector<double> slopes;
  for (int64_t i = 1; i <= n; ++i) slopes.push_back(std::pow(2.0, -8.0 * i / n));
  for (int64_t i = 1; static_cast<int64_t>(slopes.size()) < H; i += 2) slopes.push_back(std::pow(2.0, -4.0 * i / n));
  return slopes;
}

Matrix layernorm(const Matrix& x, int64_t C, const Matrix& w, const Matrix& b, double eps) {
  Matrix y(x.size());
  for (size_t r = 0; r < x.size() / C; ++r) {
    double mean = 0, var = 0;
    for (int64_t c = 0; c < C; ++c) mean += x[r * C + c] / C;
    for (int64_t c = 0; c < C; ++c) var += (x[r * C + c] - mean) * (x[r * C + c] - mean) / C;
    for (int64_t c = 0; c < C; ++c) y[r * C + c] = (x[r * C + c] - mean) / std::sqrt(var + eps) * w[c] + b[c];
  }
  return y;
}

// y = x W^T + b, W [out, in] as torch.nn.Linear stores it.
Matrix linear(const Matrix& x, int64_t in, const Matrix& W, const Matrix& b) {
  const int64_t out = static_cast<int64_t>(b.size()), rows = static_cast<int64_t>(x.size()) / in;
  Matrix y(rows * out);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = b[o];
      for (int64_t i = 0; i < in; ++i) s += x[r * in + i] * W[o * in + i];
      y[r * out + o] = s;
    }
  return y;
}

Matrix bloom_attention(const Matrix& fused, int64_t T, int64_t H, int64_t D) {
  const std::vector<double> slopes = bloom_slopes(H);
  Matrix context(T * H * D, 0.0);
  auto at = [&](int64_t t, int64_t h, int part, int64_t d) { return fused[((t * H + h) * 3 + part) * D + d]; };
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < T; ++i) {
      std::vector<double> scores(i + 1);
      double top = -1e300, total = 0;
      for (int64_t j = 0; j <= i; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < D; ++d) dot += at(i, h, 0, d) * at(j, h, 1, d);
        scores[j] = dot / std::sqrt(static_cast<double>(D)) + slopes[h] * j;  // BLOOM: slope x key position
        top = std::max(top, scores[j]);
      }
      for (double& s : scores) total += (s = std::exp(s - top));
      for (int64_t j = 0; j <= i; ++j)
        for (int64_t d = 0; d < D; ++d) context[(i * H + h) * D + d] += scores[j] / total * at(j, h, 2, d);
    }
  return context;  // [T, H*D]: heads merged in order
}

double gelu_tanh(double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }

Matrix bloom_logits(const std::string& dir, const std::vector<int32_t>& tokens, const ModelShape& s) {
  const SafetensorsFile file(dir + "/model.safetensors");
  const BloomWeights w{file};
  const int64_t T = static_cast<int64_t>(tokens.size()), C = s.d_model, V = s.vocab;
  const Matrix wte = w.get("word_embeddings.weight");
  Matrix x(T * C);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < C; ++c) x[t * C + c] = wte[tokens[t] * C + c];
  const double eps = s.layernorm_eps;
  x = layernorm(x, C, w.get("word_embeddings_layernorm.weight"), w.get("word_embeddings_layernorm.bias"), eps);
  for (int64_t l = 0; l < s.n_layer; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    Matrix h = layernorm(x, C, w.get(p + "input_layernorm.weight"), w.get(p + "input_layernorm.bias"), eps);
    const Matrix fused = linear(h, C, w.get(p + "self_attention.query_key_value.weight"),
                                w.get(p + "self_attention.query_key_value.bias"));
    const Matrix attn = linear(bloom_attention(fused, T, s.n_head, s.head_dim()), C,
                               w.get(p + "self_attention.dense.weight"), w.get(p + "self_attention.dense.bias"));
    for (size_t i = 0; i < x.size(); ++i) x[i] += attn[i];
    h = layernorm(x, C, w.get(p + "post_attention_layernorm.weight"), w.get(p + "post_attention_layernorm.bias"), eps);
    Matrix up = linear(h, C, w.get(p + "mlp.dense_h_to_4h.weight"), w.get(p + "mlp.dense_h_to_4h.bias"));
    for (double& u : up) u = gelu_tanh(u);
    const Matrix down = linear(up, 4 * C, w.get(p + "mlp.dense_4h_to_h.weight"), w.get(p + "mlp.dense_4h_to_h.bias"));
    for (size_t i = 0; i < x.size(); ++i) x[i] += down[i];
  }
  x = layernorm(x, C, w.get("ln_f.weight"), w.get("ln_f.bias"), eps);
  return linear(x, C, wte, Matrix(V, 0.0));  // the tied head
}

// ---- tests ------------------------------------------------------------------

TEST(ExportFolder, F32RoundTripIsBitwise) {
  testing::TempDir dir("export");
  const ExportedModel model = random_model(exportable_shape());
  write_export({.out_dir = dir.path()}, model);
  ASSERT_TRUE(is_export_folder(dir.path()));
  const ExportedModel back = read_export(dir.path());
  EXPECT_EQ(back.params, model.params);
  EXPECT_EQ(back.step, 1234);
  EXPECT_EQ(back.train_seq_len, 64);
  EXPECT_EQ(back.tokenizer_id, "00112233aabbccdd");
  EXPECT_EQ(back.tokenizer_path, "");
  EXPECT_EQ(back.shape.n_head, 3);
  EXPECT_TRUE(back.shape.embed_layernorm);
}

TEST(ExportFolder, Bf16HoldsTheRoundedWeights) {
  testing::TempDir dir("export");
  const ExportedModel model = random_model(exportable_shape());
  write_export({.out_dir = dir.path(), .bf16 = true}, model);
  const ExportedModel back = read_export(dir.path());
  ASSERT_EQ(back.params.size(), model.params.size());
  for (size_t i = 0; i < model.params.size(); ++i)
    ASSERT_EQ(back.params[i], float_from_bf16(bf16_from_float(model.params[i]))) << i;
  const nlohmann::json config = nlohmann::json::parse(std::ifstream(dir.file("config.json")));
  EXPECT_EQ(config.at("torch_dtype"), "bfloat16");
  EXPECT_EQ(config.at("model_type"), "bloom");
}

TEST(ExportFolder, ReadAsBloomItGivesOurLogits) {
  testing::TempDir dir("export");
  const ModelShape shape = exportable_shape();
  const ExportedModel exported = random_model(shape);
  write_export({.out_dir = dir.path()}, exported);
  const std::vector<int32_t> tokens = {3, 17, 0, 22, 5, 5, 9, 1, 14};
  const Matrix want = bloom_logits(dir.path(), tokens, shape);

  auto backend = make_cpu_backend(1);
  Model model(*backend, shape);
  model.load_parameters(exported.params);
  const int64_t T = static_cast<int64_t>(tokens.size());
  const std::vector<int32_t> no_targets(T, -1);
  model.forward(tokens.data(), no_targets.data(), 1, T, /*training=*/false);
  for (int64_t t = 0; t < T; ++t) {
    const std::vector<float> got = model.logits_at(0, t);
    for (int64_t v = 0; v < shape.vocab; ++v)
      ASSERT_NEAR(got[v], want[t * shape.vocab + v], 1e-4 * (1 + std::fabs(want[t * shape.vocab + v])))
          << "position " << t << " token " << v;
  }
}

TEST(ExportFolder, ModelsBloomCannotHoldAreRefused) {
  testing::TempDir dir("export");
  ModelShape shape = exportable_shape();
  shape.embed_layernorm = false;
  try {
    write_export({.out_dir = dir.path()}, random_model(shape));
    FAIL() << "exported a model without the embedding LayerNorm";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("model.embed_layernorm"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(is_export_folder(dir.path()));
}

// Rewrites model.safetensors of `dir` with `edit` applied to its tensors.
void rewrite_tensors(const std::string& dir,
                     const std::function<void(std::vector<std::pair<SafetensorsEntry, std::vector<char>>>&)>& edit) {
  const std::string path = dir + "/model.safetensors";
  std::vector<std::pair<SafetensorsEntry, std::vector<char>>> tensors;
  {
    const SafetensorsFile file(path);
    for (const SafetensorsEntry& e : file.entries()) tensors.emplace_back(e, file.read_bytes(e));
  }
  edit(tensors);
  std::vector<SafetensorsOut> out;
  for (const auto& [e, bytes] : tensors) out.push_back({e.name, e.dtype, e.shape, bytes.data()});
  write_safetensors(path, out, {{"format", "pt"}});
}

void expect_read_fails(const std::string& dir, const std::string& reason) {
  try {
    read_export(dir);
    ADD_FAILURE() << "read a folder that should fail for: " << reason;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
  }
}

TEST(ExportFolder, FoldersThatAreNotOurModelAreRefused) {
  testing::TempDir dir("export");
  const ExportedModel model = random_model(exportable_shape());
  const std::string wte = "transformer.word_embeddings.weight";
  write_export({.out_dir = dir.path()}, model);
  rewrite_tensors(dir.path(), [&](auto& t) { std::erase_if(t, [&](auto& p) { return p.first.name == wte; }); });
  expect_read_fails(dir.path(), "no tensor '" + wte + "'");

  write_export({.out_dir = dir.path()}, model);
  rewrite_tensors(dir.path(), [&](auto& t) {
    for (auto& [e, bytes] : t)
      if (e.name == "transformer.ln_f.bias") e.shape = {3, 4};
  });
  expect_read_fails(dir.path(), "config.json implies [12]");

  write_export({.out_dir = dir.path()}, model);
  rewrite_tensors(dir.path(), [&](auto& t) { t.emplace_back(SafetensorsEntry{"extra", "F32", {1}}, std::vector<char>(4)); });
  expect_read_fails(dir.path(), "tensor 'extra' is not part of");

  // An LM head saved beside the embedding is fine when it is the same (tied);
  // a different one is an untied model.
  write_export({.out_dir = dir.path()}, model);
  rewrite_tensors(dir.path(), [&](auto& t) {
    for (const auto& [e, bytes] : std::vector(t))
      if (e.name == wte) t.emplace_back(SafetensorsEntry{"lm_head.weight", e.dtype, e.shape}, bytes);
  });
  EXPECT_EQ(read_export(dir.path()).params, model.params);
  rewrite_tensors(dir.path(), [&](auto& t) {
    for (auto& [e, bytes] : t)
      if (e.name == "lm_head.weight") bytes[0] ^= 1;
  });
  expect_read_fails(dir.path(), "not tied");

  write_export({.out_dir = dir.path()}, model);
  std::ofstream(dir.file("config.json")) << R"({"model_type": "bloom", "hidden_size": "12"})";
  expect_read_fails(dir.path(), "hidden_size");
  std::ofstream(dir.file("config.json")) << "{";
  expect_read_fails(dir.path(), "not valid JSON");
  std::ofstream(dir.file("model.safetensors")) << "garbage";
  EXPECT_THROW(read_export(dir.path()), std::runtime_error);
}

}  // namespace
}  // namespace alibi
