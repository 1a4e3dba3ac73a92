#include "data/loader.h"

#include <gtest/gtest.h>

#include <set>

#include "support/temp_dir.h"

namespace alibi {
namespace {

constexpr int kSeqLen = 8;

// Token i of the shard is i % vocab, so a window's start is visible in its
// first token and contiguity is easy to check.
struct ShardFixture {
  testing::TempDir dir{"loader"};
  std::string path;
  ShardFixture(int64_t tokens, int64_t vocab = 70000) : path(dir.file("train.bin")) {
    std::vector<int32_t> data(tokens);
    for (int64_t i = 0; i < tokens; ++i) data[i] = static_cast<int32_t>(i % vocab);
    write_shard(path, vocab, "00000000000000aa", data);
  }
};

struct Batch {
  std::vector<int32_t> inputs, targets;
  Batch(int batch) : inputs(batch * kSeqLen), targets(batch * kSeqLen) {}
  bool operator==(const Batch& other) const = default;
};

Batch fill(const WindowLoader& loader, int64_t first, int batch) {
  Batch out(batch);
  loader.fill_batch(first, batch, out.inputs.data(), out.targets.data());
  return out;
}

TEST(Loader, WindowsAreContiguousAndTargetsAreShiftedInputs) {
  ShardFixture fixture(8 * 10 + 5);
  ShardReader shard(fixture.path);
  WindowLoader loader(shard, kSeqLen, 1, true);
  EXPECT_EQ(loader.windows_per_epoch(), (8 * 10 + 5 - 1) / 8);
  Batch batch = fill(loader, 0, 4);
  for (int b = 0; b < 4; ++b) {
    const int32_t start = batch.inputs[b * kSeqLen];
    EXPECT_EQ(start % kSeqLen, 0);
    for (int t = 0; t < kSeqLen; ++t) {
      EXPECT_EQ(batch.inputs[b * kSeqLen + t], start + t);
      EXPECT_EQ(batch.targets[b * kSeqLen + t], start + t + 1);
    }
  }
}

TEST(Loader, ExactFitUsesTheLastToken) {
  ShardFixture fixture(3 * kSeqLen + 1);  // exactly three windows
  ShardReader shard(fixture.path);
  WindowLoader loader(shard, kSeqLen, 1, false);
  EXPECT_EQ(loader.windows_per_epoch(), 3);
  EXPECT_EQ(fill(loader, 2, 1).targets.back(), 3 * kSeqLen);
}

TEST(Loader, EachEpochVisitsEveryWindowOnce) {
  ShardFixture fixture(8 * 101 + 1);
  ShardReader shard(fixture.path);
  WindowLoader loader(shard, kSeqLen, 42, true);
  const int64_t windows = loader.windows_per_epoch();
  ASSERT_EQ(windows, 101);
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    std::set<int64_t> seen;
    for (int64_t i = 0; i < windows; ++i) seen.insert(loader.window_at(epoch * windows + i));
    EXPECT_EQ(static_cast<int64_t>(seen.size()), windows);
    EXPECT_EQ(*seen.begin(), 0);
    EXPECT_EQ(*seen.rbegin(), windows - 1);
  }
  // Epochs are shuffled differently.
  std::vector<int64_t> first, second;
  for (int64_t i = 0; i < windows; ++i) {
    first.push_back(loader.window_at(i));
    second.push_back(loader.window_at(windows + i));
  }
  EXPECT_NE(first, second);
}

TEST(Loader, OrderIsAPureFunctionOfSeed) {
  ShardFixture fixture(8 * 200 + 1);
  ShardReader shard(fixture.path);
  WindowLoader a(shard, kSeqLen, 5, true), b(shard, kSeqLen, 5, true), c(shard, kSeqLen, 6, true);
  EXPECT_EQ(fill(a, 0, 16), fill(b, 0, 16));
  EXPECT_EQ(fill(a, 450, 16), fill(b, 450, 16));
  EXPECT_NE(fill(a, 0, 16), fill(c, 0, 16));
}

TEST(Loader, PositionRestoreReproducesBatches) {
  ShardFixture fixture(8 * 50 + 1);
  ShardReader shard(fixture.path);
  WindowLoader original(shard, kSeqLen, 9, true);
  for (int step = 0; step < 7; ++step) {
    Batch skipped(4);
    original.next_batch(4, skipped.inputs.data(), skipped.targets.data());
  }
  EXPECT_EQ(original.position(), 28);
  WindowLoader resumed(shard, kSeqLen, 9, true);
  resumed.set_position(original.position());
  for (int step = 0; step < 10; ++step) {  // crosses the epoch boundary at 50
    Batch x(4), y(4);
    original.next_batch(4, x.inputs.data(), x.targets.data());
    resumed.next_batch(4, y.inputs.data(), y.targets.data());
    EXPECT_EQ(x, y);
  }
}

TEST(Loader, BatchWrapsAcrossTheEpochBoundary) {
  ShardFixture fixture(8 * 10 + 1);
  ShardReader shard(fixture.path);
  WindowLoader loader(shard, kSeqLen, 3, true);
  Batch straddling = fill(loader, 8, 4);  // windows 8, 9 of epoch 0 and 0, 1 of epoch 1
  Batch tail = fill(loader, 8, 2), head = fill(loader, 10, 2);
  EXPECT_EQ(std::vector<int32_t>(straddling.inputs.begin(), straddling.inputs.begin() + 2 * kSeqLen), tail.inputs);
  EXPECT_EQ(std::vector<int32_t>(straddling.inputs.begin() + 2 * kSeqLen, straddling.inputs.end()), head.inputs);
}

TEST(Loader, WithoutShuffleWindowsAreSequential) {
  ShardFixture fixture(8 * 10 + 1);
  ShardReader shard(fixture.path);
  WindowLoader loader(shard, kSeqLen, 3, false);
  for (int64_t i = 0; i < 25; ++i) EXPECT_EQ(loader.window_at(i), i % 10);
  EXPECT_EQ(fill(loader, 0, 1).inputs[0], 0);
  EXPECT_EQ(fill(loader, 11, 1).inputs[0], kSeqLen);
}

TEST(Loader, ShardTooShortForOneWindowIsRefused) {
  ShardFixture fixture(kSeqLen);  // needs kSeqLen + 1
  ShardReader shard(fixture.path);
  try {
    WindowLoader loader(shard, kSeqLen, 1, true);
    FAIL();
  } catch (const DataError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("train.bin"), std::string::npos) << message;
    EXPECT_NE(message.find("holds 8 tokens"), std::string::npos) << message;
    EXPECT_NE(message.find("9"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace alibi
