#include "train/run_dir.h"

#include <filesystem>
#include <stdexcept>
#include <string>

#include "train/checkpoint.h"

namespace alibi {

namespace fs = std::filesystem;

void prepare_fresh_run_dir(const Config& config, bool overwrite) {
  const fs::path metrics = fs::path(config.log.run_dir) / "metrics.jsonl";
  const std::string previous = latest_checkpoint(config.checkpoint_dir());
  if (previous.empty() && !fs::exists(metrics)) return;
  if (!overwrite)
    throw std::runtime_error("log.run_dir '" + config.log.run_dir + "' already holds a run (" +
                             (previous.empty() ? metrics.string() : previous) +
                             "); pass --resume to continue it, --overwrite to start over, or choose "
                             "another --set log.run_dir=...");
  fs::remove(metrics);
  for (std::string ckpt = previous; !ckpt.empty(); ckpt = latest_checkpoint(config.checkpoint_dir())) fs::remove(ckpt);
  fs::remove(fs::path(config.checkpoint_dir()) / "latest");
}

}  // namespace alibi
