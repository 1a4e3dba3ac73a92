// alibi-train: trains a model from a YAML/JSON config.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <new>

#include "backend/select.h"
#include "config/config.h"
#include "core/version.h"
#include "dist/launch_env.h"
#include "dist/mpi_runtime.h"
#include "dist/process_group.h"
#include "train/trainer.h"

namespace {

// In a job of several ranks the message names the rank, and the whole job
// ends (MPI_Abort where MPI runs; elsewhere the others' watchdogs end them).
std::string g_rank_label;

int fail(const std::string& message) {
  if (g_rank_label.empty()) {
    std::fprintf(stderr, "alibi-train: error: %s\n", message.c_str());
    return 1;
  }
  std::fprintf(stderr, "alibi-train [%s]: error: %s\n", g_rank_label.c_str(), message.c_str());
  std::fflush(stderr);
  alibi::mpi_abort_job(1);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Idle OpenMP threads sleep instead of spinning: on a shared machine a
  // spinning thread steals the core its partner needs (steps 5-10x slower).
  // The user's own setting wins.
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0);
  CLI::App app{"alibi-train: train a decoder-only language model with ALiBi (or a baseline position method)"};
  app.set_version_flag("--version", alibi::version_text());
  std::string config_path;
  std::vector<std::string> overrides;
  std::string resume;
  bool quiet = false, print_config = false, config_docs = false;
  app.add_option("-c,--config", config_path, "YAML or JSON config file (see docs/config.md)");
  app.add_option("--set", overrides, "Override a config key, e.g. --set train.lr=3e-4 (repeatable)")
      ->take_all();
  auto* resume_opt = app.add_option("--resume", resume,
                                    "Resume from a checkpoint file or folder; with no value, the newest "
                                    "checkpoint in the run's checkpoint folder")
                         ->expected(0, 1);
  std::string init_from;
  auto* init_opt = app.add_option("--init-from", init_from,
                                  "Start from the weights of a checkpoint, run folder or exported folder (fresh "
                                  "optimizer, step 0); the config's model must have the same shape");
  init_opt->excludes(resume_opt);
  bool overwrite = false;
  app.add_flag("--overwrite", overwrite, "Start over in a run folder that holds an earlier run (deletes its checkpoints and log)");
  app.add_flag("-q,--quiet", quiet, "No progress line (the metrics log is still written)");
  app.add_flag("--print-config", print_config, "Print the fully resolved config and exit");
  bool print_device = false;
  app.add_flag("--print-device", print_device,
               "Print the device that runtime.device: auto picks here (cuda or cpu) and exit");
  app.add_flag("--config-docs", config_docs, "Print docs/config.md (the reference of every key) and exit");
  app.footer("Config keys (section.key  type  default):\n" + alibi::config_reference_text());
  CLI11_PARSE(app, argc, argv);

  try {
    if (print_device) {
      std::string why_not;
      std::cout << (alibi::cuda_backend_available(&why_not) ? "cuda" : "cpu") << "\n";
      if (!why_not.empty()) std::cerr << "no CUDA: " << why_not << "\n";
      return 0;
    }
    if (config_docs) {
      std::cout << alibi::config_reference_markdown();
      return 0;
    }
    if (config_path.empty()) return fail("--config is required (try --help)");
    const alibi::Config config = alibi::load_config(config_path, overrides);
    if (print_config) {
      std::cout << alibi::config_to_yaml(config);
      return 0;
    }
    const alibi::LaunchInfo launch = alibi::detect_launch();
    if (launch.distributed()) g_rank_label = launch.label();
    alibi::MpiScope mpi(alibi::process_group_uses_mpi(launch, config.dist));
    alibi::TrainOptions options;
    options.quiet = quiet;
    options.overwrite = overwrite;
    options.init_from = init_from;
    if (resume_opt->count() > 0) options.resume_from = resume.empty() ? config.checkpoint_dir() : resume;
    const alibi::TrainSummary summary = alibi::train(config, options);
    if (summary.rank != 0) return summary.interrupted ? 130 : 0;
    std::printf("run directory:  %s\nmetrics log:    %s\ncheckpoint:     %s\n", summary.run_dir.c_str(),
                summary.metrics_path.c_str(), summary.last_checkpoint.c_str());
    if (summary.final_valid_loss >= 0)
      std::printf("final loss:     train %.4f, validation %.4f\n", summary.final_train_loss, summary.final_valid_loss);
    return summary.interrupted ? 130 : 0;
  } catch (const std::bad_alloc&) {
    return fail("out of memory: the model, batch or sequence length does not fit; lower train.micro_batch "
                "or train.seq_len");
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}
