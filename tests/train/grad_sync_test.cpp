// GradientSync against a recording communicator: which ranges of the flat
// gradient buffer are reduced, when (during the backward pass or after it),
// and that together they cover the buffer exactly once.
#include <gtest/gtest.h>

#include <algorithm>

#include "cpu/cpu_backend.h"
#include "model/model.h"
#include "train/grad_sync.h"

namespace alibi {
namespace {

struct Call {
  std::string op;
  int64_t begin, end;  // element range of the flat gradients
  bool during_backward;
};

class RecordingCommunicator final : public Communicator {
 public:
  explicit RecordingCommunicator(const Tensor& grads) : base_(static_cast<float*>(grads.data)) {}
  int rank() const override { return 0; }
  int world_size() const override { return 2; }
  std::string name() const override { return "recording"; }
  void all_reduce_sum(const Tensor& t, const std::string&) override { record("all_reduce", t); }
  void reduce_scatter_sum(const Tensor& t, const std::string&) override { record("reduce_scatter", t); }
  void all_gather(const Tensor& t, const std::string&) override { record("all_gather", t); }
  void broadcast(const Tensor& t, int, const std::string&) override { record("broadcast", t); }
  void join() override { ++joins; }
  std::vector<double> sum_host(const std::vector<double>& v, const std::string&) override { return v; }

  std::vector<Call> calls;
  int joins = 0;
  bool in_backward = false;

 private:
  void record(const std::string& op, const Tensor& t) {
    const int64_t begin = static_cast<float*>(t.data) - base_;
    calls.push_back({op, begin, begin + t.numel(), in_backward});
  }
  float* base_;
};

class GradSyncTest : public ::testing::Test {
 protected:
  GradSyncTest() : backend_(make_cpu_backend(1)), model_(*backend_, shape()) {
    model_.load_parameters(init_parameters(model_.layout(), model_.shape(), 0.1f, 1));
    model_.reserve(2, 8, /*for_training=*/true);
  }
  static ModelShape shape() {
    ModelShape s;
    s.n_layer = 4, s.d_model = 32, s.n_head = 2, s.d_ff = 128, s.vocab = 50;
    return s;
  }
  // One forward and backward with the sync's hook, then finish().
  std::vector<Call> run(const DistConfig& dist) {
    RecordingCommunicator comm(model_.grads_flat());
    GradientSync sync(*backend_, comm, model_, dist);
    std::vector<int32_t> tokens(16), targets(16);
    for (int i = 0; i < 16; ++i) tokens[i] = i % 50, targets[i] = (i * 7) % 50;
    model_.forward(tokens.data(), targets.data(), 2, 8, /*training=*/true, 0, 1.f / 16);
    comm.in_backward = true;
    model_.backward(sync.hook());
    comm.in_backward = false;
    sync.finish();
    EXPECT_GE(comm.joins, 1) << "the backend must wait for the reductions";
    return comm.calls;
  }
  std::unique_ptr<Backend> backend_;
  Model model_;
};

void expect_exact_cover(std::vector<Call> calls, int64_t total) {
  std::sort(calls.begin(), calls.end(), [](const Call& a, const Call& b) { return a.begin < b.begin; });
  int64_t next = 0;
  for (const Call& c : calls) {
    EXPECT_EQ(c.begin, next) << "gap or overlap at element " << next;
    next = c.end;
  }
  EXPECT_EQ(next, total);
}

TEST_F(GradSyncTest, SmallBucketsAreReducedDuringTheBackwardFromTheLastLayerDown) {
  DistConfig dist;
  dist.bucket_mb = 0.01f;  // ~2.6k elements: about one block each
  const std::vector<Call> calls = run(dist);
  ASSERT_GE(calls.size(), 4u);
  expect_exact_cover(calls, model_.grads_flat().numel());
  int during = 0;
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].op, "all_reduce");
    if (i > 0) {
      EXPECT_LT(calls[i].begin, calls[i - 1].begin) << "buckets go from the top of the buffer down";
    }
    during += calls[i].during_backward;
  }
  EXPECT_GE(during, 3) << "most buckets start while the backward pass runs";
  // The embeddings (offset 0) are final only after the whole backward.
  EXPECT_EQ(calls.back().begin, 0);
}

TEST_F(GradSyncTest, WithoutOverlapEverythingIsReducedAfterTheBackward) {
  DistConfig dist;
  dist.overlap = false;
  dist.bucket_mb = 0.02f;
  const std::vector<Call> calls = run(dist);
  expect_exact_cover(calls, model_.grads_flat().numel());
  for (const Call& c : calls) EXPECT_FALSE(c.during_backward);
  EXPECT_GT(calls.size(), 1u) << "still in buckets";
}

TEST_F(GradSyncTest, OneLargeBucketHoldsTheWholeBuffer) {
  DistConfig dist;
  dist.bucket_mb = 100.f;
  const std::vector<Call> calls = run(dist);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].begin, 0);
  EXPECT_EQ(calls[0].end, model_.grads_flat().numel());
}

TEST_F(GradSyncTest, Zero1ReduceScattersTheWholeBufferOnce) {
  DistConfig dist;
  dist.zero1 = true;
  const std::vector<Call> calls = run(dist);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].op, "reduce_scatter");
  EXPECT_EQ(calls[0].end - calls[0].begin, model_.grads_flat().numel());
  EXPECT_FALSE(calls[0].during_backward);
}

TEST_F(GradSyncTest, Bf16ReductionIsRefusedOnTheCpu) {
  DistConfig dist;
  dist.reduce_dtype = ReduceDType::Bf16;
  RecordingCommunicator comm(model_.grads_flat());
  EXPECT_THROW(GradientSync(*backend_, comm, model_, dist), ConfigError);
}

}  // namespace
}  // namespace alibi
