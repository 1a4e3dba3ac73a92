// alibi-eval as a user runs it: bad input ends with "alibi-eval: error: ..."
// and exit status 1; the JSON and CSV hold the numbers the table shows.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "eval/eval_fixtures.h"
#include "support/test_data.h"

namespace alibi {
namespace {

namespace fs = std::filesystem;
using testing::bin;
using testing::bin_dir;

struct Outcome {
  int exit_code;
  std::string out, err;
};

Outcome run_eval(const std::string& args, const std::string& env = "") {
  const fs::path base = fs::temp_directory_path() / ("alibi-eval-cli-" + std::to_string(::getpid()));
  Outcome o;
  o.exit_code = testing::run_command(env + " " + bin("alibi-eval") + " " + args + " > " + base.string() + ".out 2> " +
                                     base.string() + ".err");
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  o.out = slurp(base.string() + ".out");
  o.err = slurp(base.string() + ".err");
  fs::remove(base.string() + ".out");
  fs::remove(base.string() + ".err");
  return o;
}

void expect_error(const Outcome& o, std::initializer_list<std::string> words) {
  EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
  EXPECT_NE(o.err.find("alibi-eval: error: "), std::string::npos) << o.err;
  for (const std::string& w : words) EXPECT_NE(o.err.find(w), std::string::npos) << "missing '" << w << "' in: " << o.err;
}

// One small trained run per test (ctest runs the tests as separate processes).
std::string trained_run(const std::string& name) {
  const std::string data =
      testing::handmade_dataset((fs::path(bin_dir()) / "test-runs" / (name + "-data")).string());
  return testing::train_tiny(data, name);
}

std::string checkpoint_file(const std::string& run) {
  for (const auto& entry : fs::directory_iterator(run + "/checkpoints"))
    if (entry.path().extension() == ".ckpt") return entry.path().string();
  return "";
}

TEST(AlibiEvalCli, LengthZeroIsRefused) {
  const std::string run = trained_run("cli-length-zero");
  expect_error(run_eval("--checkpoint " + run + " --lengths 8,0 -q"), {"'0'", "at least 1"});
}

TEST(AlibiEvalCli, StrideLargerThanTheLengthOrBelowOneIsRefused) {
  const std::string run = trained_run("cli-stride");
  expect_error(run_eval("--checkpoint " + run + " --lengths 8,16 --stride 12 -q"), {"--stride 12", "length 8"});
  expect_error(run_eval("--checkpoint " + run + " --lengths 8 --stride 0 -q"), {"--stride 0", "at least 1"});
}

TEST(AlibiEvalCli, MissingCheckpointIsNamed) {
  expect_error(run_eval("--checkpoint /nonexistent/run --lengths 8"), {"/nonexistent/run", "no such file or folder"});
}

TEST(AlibiEvalCli, CorruptAndNewerCheckpointsAreRefused) {
  const std::string run = trained_run("cli-bad-ckpt");
  const std::string good = checkpoint_file(run);
  const fs::path dir = fs::path(bin_dir()) / "test-runs" / "cli-bad-ckpt-files";
  fs::create_directories(dir);
  const fs::path newer = dir / "newer.ckpt", corrupt = dir / "corrupt.ckpt";
  fs::copy_file(good, newer, fs::copy_options::overwrite_existing);
  fs::copy_file(good, corrupt, fs::copy_options::overwrite_existing);
  {
    std::fstream f(newer, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    const unsigned char version[4] = {2, 0, 0, 0};  // u32 little-endian format version
    f.write(reinterpret_cast<const char*>(version), 4);
  }
  {
    std::fstream f(corrupt, std::ios::in | std::ios::out | std::ios::binary);
    const auto middle = static_cast<std::streamoff>(fs::file_size(corrupt) / 2);
    f.seekg(middle);
    const char byte = static_cast<char>(f.get() ^ 0x40);  // one flipped bit in the tensor data
    f.seekp(middle);
    f.put(byte);
  }
  expect_error(run_eval("--checkpoint " + newer.string() + " --lengths 8"), {newer.string(), "newer"});
  expect_error(run_eval("--checkpoint " + corrupt.string() + " --lengths 8"), {corrupt.string(), "corrupt"});
}

TEST(AlibiEvalCli, SplitTooShortAndOtherTokenizerAreRefused) {
  const std::string run = trained_run("cli-data");
  expect_error(run_eval("--checkpoint " + run + " --lengths 4096 -q"), {"too short for length 4096"});
  const std::string other = testing::handmade_dataset(
      (fs::path(bin_dir()) / "test-runs" / "cli-data-other").string(), {}, "other tokenizer");
  expect_error(run_eval("--checkpoint " + run + " --data valid --data-dir " + other + " --lengths 8 -q"),
               {"tokenizer", other});
}

// The table's numbers, as printed, for the JSON rows.
TEST(AlibiEvalCli, JsonAndCsvHoldTheNumbersOfTheTable) {
  const std::string run = trained_run("cli-outputs");
  const fs::path dir = fs::path(bin_dir()) / "test-runs" / "cli-outputs-files";
  fs::create_directories(dir);
  const std::string json_path = (dir / "r.json").string(), csv_path = (dir / "r.csv").string();
  const Outcome o = run_eval("--checkpoint " + run + " --lengths 1x,8,32 --json " + json_path + " --csv " + csv_path);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  std::ifstream json_file(json_path);
  const nlohmann::json json = nlohmann::json::parse(json_file);
  const auto& results = json.at("results");
  ASSERT_EQ(results.size(), 3u);
  std::ifstream csv_file(csv_path);
  std::vector<std::string> csv_lines;
  for (std::string line; std::getline(csv_file, line);) csv_lines.push_back(line);
  ASSERT_EQ(csv_lines.size(), 4u);
  EXPECT_EQ(csv_lines[0].rfind("label,checkpoint,position,", 0), 0u);
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    char token_ppl[32], word_ppl[32];
    std::snprintf(token_ppl, sizeof token_ppl, "%.2f", r.at("token_ppl").get<double>());
    std::snprintf(word_ppl, sizeof word_ppl, "%.2f", r.at("word_ppl").get<double>());
    EXPECT_NE(o.out.find(token_ppl), std::string::npos) << token_ppl << " not in\n" << o.out;
    EXPECT_NE(o.out.find(word_ppl), std::string::npos) << word_ppl << " not in\n" << o.out;
    EXPECT_EQ(r.at("tokens_scored").get<int64_t>(), 288);
    EXPECT_NE(o.out.find("cli-outputs@3"), std::string::npos);
    // The CSV row carries the same label, length and token count.
    std::stringstream row(csv_lines[i + 1]);
    std::vector<std::string> cells;
    for (std::string cell; std::getline(row, cell, ',');) cells.push_back(cell);
    ASSERT_GE(cells.size(), 14u);
    EXPECT_EQ(cells[0], r.at("label").get<std::string>());
    EXPECT_EQ(std::stoll(cells[7]), r.at("length").get<int64_t>());
    EXPECT_EQ(std::stoll(cells[11]), r.at("tokens_scored").get<int64_t>());
    EXPECT_DOUBLE_EQ(std::stod(cells[13]), r.at("token_ppl").get<double>());
  }
  EXPECT_EQ(results[0].at("length"), 16);  // 1x of train.seq_len 16
}

TEST(AlibiEvalCli, PlotWithoutGnuplotSaysSoAndStillWritesTheResults) {
  const std::string run = trained_run("cli-plot");
  const fs::path dir = fs::path(bin_dir()) / "test-runs" / "cli-plot-files";
  fs::remove_all(dir);
  fs::create_directories(dir / "bin");
  // A PATH with bash but no gnuplot.
  fs::create_symlink("/bin/bash", dir / "bin" / "bash");
  const std::string json_path = (dir / "r.json").string(), png = (dir / "r.png").string();
  const Outcome o = run_eval("--checkpoint " + run + " --lengths 8,16 -q --json " + json_path + " --plot " + png,
                             "PATH=" + (dir / "bin").string());
  expect_error(o, {"gnuplot is not installed", (dir / "r.csv").string()});
  EXPECT_TRUE(fs::exists(json_path));
  EXPECT_TRUE(fs::exists(dir / "r.csv"));
  EXPECT_FALSE(fs::exists(png));
}

}  // namespace
}  // namespace alibi

namespace alibi {
namespace {

TEST(AlibiEvalCli, PlotIsAPngWhenGnuplotIsThere) {
  if (testing::run_command("command -v gnuplot > /dev/null 2>&1") != 0) GTEST_SKIP() << "gnuplot is not installed";
  const std::string run = trained_run("cli-plot-png");
  const fs::path dir = fs::path(bin_dir()) / "test-runs" / "cli-plot-png-files";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string png = (dir / "r.png").string();
  const Outcome o = run_eval("--checkpoint " + run + " --lengths 8,16,32 -q --plot " + png);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  std::ifstream in(png, std::ios::binary);
  char magic[8] = {};
  in.read(magic, 8);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG");
  EXPECT_TRUE(fs::exists(dir / "r.csv"));
}

}  // namespace
}  // namespace alibi
