// The data-parallel path on one GPU: NCCL collectives of a one-rank job
// leave their data as it was (and run without error on their own stream,
// ordered against the backend's), and training through NCCL with buckets
// overlapped with the backward pass, or with ZeRO-1, gives the plain path's
// losses exactly; bf16 reduction gives them to bf16 tolerance.
#include <gtest/gtest.h>

#include <filesystem>

#include "backend/select.h"
#include "core/random.h"
#include "cuda_test_util.h"
#include "support/test_data.h"
#include "train/trainer.h"

namespace alibi {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<Communicator> one_rank_nccl(Backend& backend) {
  CommunicatorSetup setup;
  setup.share_from_rank0 = [](const std::vector<uint8_t>& id) { return id; };
  setup.label = "rank 0/1";
  setup.timeout = std::chrono::milliseconds(60000);
  return make_communicator(backend, setup);
}

TEST(CudaDataParallel, OneRankNcclCollectivesKeepTheirData) {
  ALIBI_REQUIRE_GPU();
  RuntimeConfig runtime;
  runtime.device = DeviceChoice::Cuda;
  auto backend = make_backend(runtime);
  auto comm = one_rank_nccl(*backend);
  EXPECT_EQ(comm->name(), "nccl");
  const int64_t n = 1000003;  // odd: no multiple of any vector width
  std::vector<float> host(n);
  Rng rng(42);
  for (float& x : host) x = static_cast<float>(rng.uniform()) - 0.5f;
  auto buffer = backend->allocate(n * sizeof(float));
  Tensor t(buffer->data(), {n}, DType::F32, backend->device());
  backend->upload(t, host.data());
  backend->scale(t, 2.f);  // issued before the collectives: they must see it
  comm->all_reduce_sum(t, "test all-reduce");
  comm->reduce_scatter_sum(t, "test reduce-scatter");
  comm->all_gather(t, "test all-gather");
  comm->broadcast(t, 0, "test broadcast");
  comm->join();
  std::vector<float> back(n, -1.f);
  backend->download(back.data(), t);
  for (int64_t i = 0; i < n; i += 9973) ASSERT_EQ(back[i], 2.f * host[i]) << i;
  EXPECT_EQ(comm->sum_host({1.5, -2.0}, "test sums"), (std::vector<double>{1.5, -2.0}));
}

TrainSummary train_on_gpu(const std::string& name, bool data_parallel, std::vector<std::string> extra) {
  const std::string data = alibi::testing::grammar_dataset();
  const std::string run = (fs::path(alibi::testing::bin_dir()) / "test-runs" / ("cuda-dp-" + name)).string();
  fs::remove_all(run);
  std::vector<std::string> overrides = {"data.dir=" + data, "log.run_dir=" + run, "runtime.device=cuda",
                                        "model.n_layer=3", "model.d_model=96", "model.n_head=3",
                                        "train.seq_len=64", "train.micro_batch=8", "train.grad_accum=2",
                                        "train.steps=12", "train.lr=3e-3", "train.eval_interval=6",
                                        "train.eval_batches=4", "checkpoint.interval=0", "dist.bucket_mb=0.05",
                                        "runtime.deterministic=true"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  TrainOptions options;
  options.quiet = true;
  options.data_parallel = data_parallel;
  return train(parse_config("{}", "test", overrides), options);
}

TEST(CudaDataParallel, OneRankThroughNcclTrainsLikeThePlainPath) {
  ALIBI_REQUIRE_GPU();
  const TrainSummary plain = train_on_gpu("plain", false, {});
  ASSERT_EQ(plain.train_losses.size(), 12u);
  for (const auto& extra : std::vector<std::vector<std::string>>{{}, {"dist.overlap=false"}, {"dist.zero1=true"}}) {
    const TrainSummary dp = train_on_gpu("nccl", true, extra);
    ASSERT_EQ(dp.train_losses.size(), plain.train_losses.size());
    for (size_t i = 0; i < plain.train_losses.size(); ++i)
      EXPECT_EQ(dp.train_losses[i], plain.train_losses[i]) << "step " << i + 1 << ::testing::PrintToString(extra);
    EXPECT_EQ(dp.final_valid_loss, plain.final_valid_loss);
  }
  // bf16 gradients on the wire: a rounding of each gradient (relative 2^-8),
  // which AdamW's normalisation keeps small in the loss.
  const TrainSummary bf16 = train_on_gpu("nccl-bf16", true, {"dist.reduce_dtype=bf16"});
  for (size_t i = 0; i < plain.train_losses.size(); ++i)
    EXPECT_NEAR(bf16.train_losses[i], plain.train_losses[i], 0.02 * plain.train_losses[i]) << "step " << i + 1;
}

}  // namespace
}  // namespace alibi
