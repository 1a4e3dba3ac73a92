// An exported model: a folder that Hugging Face transformers loads as BLOOM
// and that alibi-generate, alibi-eval and alibi-train --init-from read back.
//
//   config.json        BLOOM's config, plus an "alibi_lm" section with what
//                      our tools need (training length, tokenizer id, step)
//   model.safetensors  the parameters, f32 or bf16
//   tokenizer.model    the SentencePiece tokenizer (when known)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/params.h"

namespace alibi {

struct ExportedModel {
  ModelShape shape;
  std::vector<float> params;   // laid out by parameter_layout(shape)
  int64_t step = 0;            // optimizer steps it was trained for
  int64_t train_seq_len = 0;   // 0 when unknown (a folder not written by us)
  std::string tokenizer_id;    // "" when unknown
  std::string tokenizer_path;  // the folder's tokenizer.model, "" when it has none
};

struct ExportOptions {
  std::string out_dir;
  bool bf16 = false;           // parameters as bf16 (half the size; not bit-exact)
  std::string tokenizer_path = {};  // copied in as tokenizer.model ("" for none)
  int eos_token_id = -1;       // written to config.json when >= 0
};

// Writes the folder (created if missing); throws std::runtime_error saying
// why a model cannot be represented, or naming a path that cannot be written.
void write_export(const ExportOptions& options, const ExportedModel& model);

// Whether `dir` looks like an exported model (config.json and model.safetensors).
bool is_export_folder(const std::string& dir);
// Reads and checks a folder; throws std::runtime_error naming the file and field.
ExportedModel read_export(const std::string& dir);

}  // namespace alibi
