#include "eval/eval_data.h"

#include <filesystem>

namespace alibi {

namespace fs = std::filesystem;

namespace {

// The split of `meta` whose shard is `file` (compared by file name).
const SplitInfo& split_of_shard(const DatasetMeta& meta, const fs::path& file) {
  for (const SplitInfo& s : meta.splits)
    if (s.file == file.filename().string()) return s;
  throw DataError("--data " + file.string() + ": no split of the dataset in '" + meta.dir + "' uses this file");
}

}  // namespace

EvalData resolve_eval_data(const EvalDataRequest& request, const std::string& checkpoint_data_dir) {
  std::error_code ec;
  EvalData out;
  if (fs::is_regular_file(request.data, ec)) {
    // A shard: its dataset is the folder around it.
    const fs::path shard = fs::path(request.data);
    const fs::path dir = shard.has_parent_path() ? shard.parent_path() : fs::path(".");
    out.dataset = load_dataset(dir.string());
    out.split = split_of_shard(out.dataset, shard);
  } else if (fs::is_directory(request.data, ec)) {
    out.dataset = load_dataset(request.data);
    out.split = out.dataset.split(request.split.empty() ? "valid" : request.split);
  } else if (request.data.find('/') != std::string::npos || fs::path(request.data).extension() == ".bin") {
    throw DataError("--data " + request.data + ": no such file or folder");
  } else {
    const std::string dir = request.data_dir.empty() ? checkpoint_data_dir : request.data_dir;
    if (dir.empty())
      throw DataError("--data " + request.data + ": not a file or folder, and no dataset folder to take the split from "
                      "(give --data-dir)");
    if (!fs::exists(dir, ec))
      throw DataError("--data " + request.data + ": the dataset folder '" + dir + "' does not exist" +
                      (request.data_dir.empty() ? " (it is the checkpoint's data.dir; give --data-dir)" : ""));
    out.dataset = load_dataset(dir);
    out.split = out.dataset.split(request.data);
  }
  return out;
}

void check_same_tokenizer(const EvalData& data, const std::string& checkpoint_path,
                          const std::string& checkpoint_tokenizer_id) {
  // A model exported by another tool does not say which tokenizer it used.
  if (!checkpoint_tokenizer_id.empty() && data.dataset.tokenizer_id != checkpoint_tokenizer_id)
    throw DataError("checkpoint '" + checkpoint_path + "' was trained with tokenizer " + checkpoint_tokenizer_id +
                    " but the dataset in '" + data.dataset.dir + "' uses tokenizer " + data.dataset.tokenizer_id +
                    ": its token ids mean other pieces");
}

double scored_word_units(const SplitInfo& split, int64_t scored, bool words_only) {
  if (split.tokens <= 0) return 0.0;
  const double units = static_cast<double>(split.words) + (words_only ? 0.0 : static_cast<double>(split.lines));
  return units * static_cast<double>(scored) / static_cast<double>(split.tokens);
}

}  // namespace alibi
