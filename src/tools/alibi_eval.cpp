// alibi-eval: perplexity of trained checkpoints at one or more evaluation
// lengths (docs/eval.md), as a table, JSON, CSV and a plot.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <new>

#include "config/config.h"
#include "core/atomic_file.h"
#include "core/version.h"
#include "eval/plot.h"
#include "eval/report.h"
#include "eval/sweep.h"

namespace {

int fail(const std::string& message) {
  std::fprintf(stderr, "alibi-eval: error: %s\n", message.c_str());
  return 1;
}

struct Outputs {
  std::string json, csv, plot, plot_metric = "word";
};

// The CSV the plot is drawn from: --csv, or one beside the PNG.
std::string plot_csv_path(const Outputs& out) {
  if (!out.csv.empty()) return out.csv;
  return std::filesystem::path(out.plot).replace_extension(".csv").string();
}

// Files first, so the numbers are saved even when the plot cannot be drawn.
int write_outputs(const std::vector<alibi::EvalRow>& rows, const Outputs& out) {
  if (!out.json.empty()) alibi::write_text_atomically(out.json, alibi::format_json(rows));
  const std::string csv = out.plot.empty() ? out.csv : plot_csv_path(out);
  if (!csv.empty()) alibi::write_text_atomically(csv, alibi::format_csv(rows));
  if (out.plot.empty()) return 0;
  const std::string problem = alibi::draw_plot(csv, out.plot, out.plot_metric);
  if (!problem.empty()) return fail("no plot drawn: " + problem + "; the results are in " + csv);
  std::fprintf(stderr, "plot: %s\n", out.plot.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // As in alibi-train: idle OpenMP threads sleep instead of spinning.
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0);
  CLI::App app{"alibi-eval: perplexity of trained checkpoints at one or more evaluation lengths"};
  app.set_version_flag("--version", alibi::version_text());
  alibi::SweepRequest request;
  request.data.data = "valid";
  std::string lengths = "1x", device = "auto";
  int64_t stride = 0;
  int threads = 0;
  bool quiet = false;
  Outputs out;
  app.add_option("--checkpoint", request.checkpoints,
                 "Checkpoint file, checkpoint folder or run folder (its newest checkpoint); repeatable")
      ->required();
  app.add_option("--data", request.data.data,
                 "A split name of the checkpoint's dataset (valid, test), a shard file (.bin) of a dataset, "
                 "or a dataset folder (with --split)")
      ->capture_default_str();
  app.add_option("--data-dir", request.data.data_dir, "Dataset folder for a split name (default: the checkpoint's data.dir)");
  app.add_option("--split", request.data.split, "Split of a dataset folder given as --data (default: valid)");
  app.add_option("--lengths", lengths,
                 "Comma-separated evaluation lengths in tokens (512,1024) or multiples of the training length (1x,2x)")
      ->capture_default_str();
  auto* stride_opt = app.add_option("--stride", stride,
                                    "Sliding-window evaluation: windows advance by this many tokens and only their "
                                    "last STRIDE targets are scored (1 <= STRIDE <= length); default: nonoverlapping");
  app.add_option("--device", device, "auto, cpu or cuda")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads; 0: all cores")->capture_default_str();
  app.add_option("--max-batch-tokens", request.max_batch_tokens,
                 "Window tokens per forward pass (windows per batch = this / length, at least 1)")
      ->capture_default_str();
  app.add_flag("--words-only", request.words_only,
               "Word-level perplexity over words alone (default: words + one end-of-line per line, as WikiText)");
  app.add_option("--json", out.json, "Write the results as JSON");
  app.add_option("--csv", out.csv, "Write the results as CSV");
  app.add_option("--plot", out.plot, "Draw perplexity against length as a PNG (needs gnuplot; also writes the CSV)");
  app.add_option("--plot-metric", out.plot_metric, "Perplexity the plot shows: word or token")
      ->check(CLI::IsMember({"word", "token"}))
      ->capture_default_str();
  bool exact_attention = false;
  app.add_flag("--exact-attention", exact_attention,
               "Compute every key on the GPU, also those ALiBi provably makes negligible "
               "(runtime.skip_negligible_keys = false)");
  app.add_flag("-q,--quiet", quiet, "No progress messages");
  CLI11_PARSE(app, argc, argv);

  try {
    const auto device_choice = alibi::parse_device_choice(device);
    if (!device_choice) return fail("--device " + device + ": must be auto, cpu or cuda");
    if (stride_opt->count() > 0 && stride < 1)
      return fail("--stride " + std::to_string(stride) + ": must be at least 1 (and at most the length)");
    if (threads < 0) return fail("--threads " + std::to_string(threads) + ": must be 0 (all cores) or more");
    request.lengths = alibi::parse_lengths(lengths);
    request.stride = stride;
    request.runtime.device = *device_choice;
    request.runtime.threads = threads;
    request.runtime.skip_negligible_keys = !exact_attention;
    auto log = [&](const std::string& message) {
      if (!quiet) std::fprintf(stderr, "%s\n", message.c_str());
    };
    const std::vector<alibi::EvalRow> rows = alibi::run_sweep(request, log);
    std::cout << alibi::format_table(rows) << std::flush;
    return write_outputs(rows, out);
  } catch (const std::bad_alloc&) {
    return fail("out of memory: lower --max-batch-tokens");
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}
