#include "eval/sweep.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <stdexcept>

#include "backend/select.h"
#include "data/shard.h"
#include "eval/eval_checkpoint.h"
#include "eval/eval_plan.h"
#include "eval/evaluator.h"

namespace alibi {

namespace {

// One checkpoint with its data and the lengths it is evaluated at.
struct Job {
  EvalCheckpoint checkpoint;
  EvalData data;
  std::vector<EvalSpec> specs;
  std::vector<std::string> unavailable;  // per spec: why it cannot run, "" when it can
  int64_t scored = 0;                    // tokens every spec of this split scores
};

std::vector<EvalSpec> resolve_specs(const SweepRequest& request, int64_t train_seq_len) {
  std::vector<EvalSpec> specs;
  for (const LengthArg& arg : request.lengths) {
    const int64_t length = resolve_length(arg, train_seq_len);
    const EvalSpec spec{length, request.stride > 0 ? request.stride : length};
    if (request.stride > length)
      throw std::invalid_argument("--stride " + std::to_string(request.stride) + " is larger than the length " +
                                  std::to_string(length) + (arg.multiple > 0 ? " (" + arg.text + ")" : "") +
                                  ": it must be between 1 and the length");
    check_eval_spec(spec);
    specs.push_back(spec);
  }
  return specs;
}

// A learned table has one row per position: longer windows have no embedding.
std::string why_unavailable(const EvalCheckpoint& checkpoint, const EvalSpec& spec) {
  const int64_t rows = checkpoint.position_limit();
  if (rows > 0 && spec.length > rows)
    return "n/a (learned positions: table has " + std::to_string(rows) + " rows)";
  return "";
}

Job prepare_job(const SweepRequest& request, const std::string& checkpoint_arg) {
  Job job;
  job.checkpoint = load_eval_checkpoint(checkpoint_arg);
  job.data = resolve_eval_data(request.data, job.checkpoint.data_dir);
  check_same_tokenizer(job.data, job.checkpoint.path, job.checkpoint.tokenizer_id);
  if (job.data.dataset.vocab_size > job.checkpoint.shape.vocab)
    throw DataError("the dataset in '" + job.data.dataset.dir + "' has " + std::to_string(job.data.dataset.vocab_size) +
                    " token ids but the model of '" + job.checkpoint.path + "' only " +
                    std::to_string(job.checkpoint.shape.vocab));
  job.specs = resolve_specs(request, job.checkpoint.train_seq_len);
  for (const EvalSpec& spec : job.specs) job.unavailable.push_back(why_unavailable(job.checkpoint, spec));
  return job;
}

// Every run on the same split scores the same first M tokens.
void choose_scored_tokens(std::vector<Job>& jobs) {
  std::map<std::string, std::vector<EvalSpec>> specs_by_shard;
  for (const Job& job : jobs)
    for (size_t i = 0; i < job.specs.size(); ++i)
      if (job.unavailable[i].empty()) specs_by_shard[job.data.shard_path()].push_back(job.specs[i]);
  for (Job& job : jobs) {
    const std::vector<EvalSpec>& specs = specs_by_shard[job.data.shard_path()];
    if (specs.empty()) continue;
    const int64_t tokens = job.data.split.tokens;
    int64_t longest = 0;
    for (const EvalSpec& s : specs) longest = std::max(longest, s.length);
    const std::string split = "split '" + job.data.split.name + "' of '" + job.data.dataset.dir + "'";
    if (longest + 1 > tokens)
      throw DataError(split + " has " + std::to_string(tokens) + " tokens: too short for length " +
                      std::to_string(longest) + " (a window needs length + 1 tokens)");
    job.scored = common_scored_tokens(tokens, specs);
    if (job.scored == 0)
      throw DataError(split + " (" + std::to_string(tokens) + " tokens) has no token count that every length " +
                      "covers with whole windows (nonoverlapping lengths need a common multiple); choose lengths "
                      "that divide each other, or a --stride that divides them");
  }
}

EvalRow row_for(const Job& job, const EvalSpec& spec) {
  EvalRow row;
  row.checkpoint = job.checkpoint.path;
  row.label = job.checkpoint.label;
  row.position = job.checkpoint.position();
  row.step = job.checkpoint.step;
  row.train_length = job.checkpoint.train_seq_len;
  row.dataset = job.data.dataset.dir;
  row.split = job.data.split.name;
  row.length = spec.length;
  row.stride = spec.stride;
  row.mode = spec.mode();
  return row;
}

void fill_results(EvalRow& row, const EvalOutcome& outcome, const SplitInfo& split, bool words_only) {
  row.tokens_scored = outcome.tokens_scored;
  row.tokens_processed = outcome.tokens_processed;
  row.nll = outcome.nll;
  row.token_ppl = outcome.token_ppl();
  row.word_units = scored_word_units(split, outcome.tokens_scored, words_only);
  row.word_ppl = row.word_units > 0 ? std::exp(row.nll / row.word_units) : 0.0;
  row.seconds = outcome.seconds;
  row.tokens_per_s = outcome.tokens_per_second();
  row.batch_windows = outcome.batch_windows;
}

void evaluate_job(Job& job, Backend& backend, const SweepRequest& request, std::vector<EvalRow>& rows,
                  const SweepLog& log) {
  std::unique_ptr<Model> model = make_eval_model(backend, job.checkpoint);
  std::vector<float>().swap(job.checkpoint.params);  // the model holds the weights now
  const ShardReader tokens(job.data.shard_path());
  for (size_t i = 0; i < job.specs.size(); ++i) {
    EvalRow row = row_for(job, job.specs[i]);
    if (!job.unavailable[i].empty()) {
      row.available = false;
      row.note = job.unavailable[i];
    } else {
      if (log) log(job.checkpoint.label + ": length " + std::to_string(row.length) + ", " + row.mode + " ...");
      const EvalBudget budget{request.max_batch_tokens, backend.free_memory()};
      fill_results(row, evaluate(*model, tokens, job.specs[i], job.scored, budget), job.data.split,
                   request.words_only);
    }
    rows.push_back(row);
  }
}

}  // namespace

std::vector<EvalRow> run_sweep(const SweepRequest& request, const SweepLog& log) {
  if (request.checkpoints.empty()) throw std::invalid_argument("no --checkpoint given");
  if (request.lengths.empty()) throw std::invalid_argument("no --lengths given");
  if (request.max_batch_tokens < 1) throw std::invalid_argument("--max-batch-tokens must be at least 1");
  std::vector<Job> jobs;
  for (const std::string& arg : request.checkpoints) jobs.push_back(prepare_job(request, arg));
  choose_scored_tokens(jobs);
  std::unique_ptr<Backend> backend = make_backend(request.runtime);
  if (log) log("alibi-eval: " + backend->name());
  std::vector<EvalRow> rows;
  for (Job& job : jobs) evaluate_job(job, *backend, request, rows, log);
  return rows;
}

}  // namespace alibi
