// The CUDA backend as a whole: identity, dtypes, memory, errors, selection.
#include "tests/cuda/cuda_test_util.h"

#include "config/config.h"
#include "cuda/cuda_check.cuh"
#include "cuda/peak_flops.h"

namespace alibi::cudatest {
namespace {

TEST(CudaPeakFlops, DatasheetByNameElseDerivedFromTheChip) {
  // No GPU needed: a pure function of the device description.
  EXPECT_DOUBLE_EQ(cuda::peak_bf16_flops({"NVIDIA H100 80GB HBM3", 9, 0, 132, 1.98e9}), 989.4e12);
  EXPECT_DOUBLE_EQ(cuda::peak_bf16_flops({"NVIDIA H100 PCIe", 9, 0, 114, 1.755e9}), 756e12);
  EXPECT_DOUBLE_EQ(cuda::peak_bf16_flops({"NVIDIA H200", 9, 0, 132, 1.98e9}), 989.4e12);
  // An unlisted sm_90 part: SMs x clock x 4096 dense bf16 FLOP per SM per clock.
  EXPECT_DOUBLE_EQ(cuda::peak_bf16_flops({"Some Hopper", 9, 0, 100, 1.5e9}), 100 * 1.5e9 * 4096);
  EXPECT_EQ(cuda::peak_bf16_flops({"Unknown", 7, 5, 40, 1.5e9}), 0.0);
}

TEST(CudaCheck, ErrorsNameTheOpShapesAndCudaText) {
  try {
    cuda::check_cuda(cudaErrorIllegalAddress, "layernorm_forward", {{"N", 16384}, {"C", 768}});
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "cuda: layernorm_forward [N=16384, C=768]: an illegal memory access was encountered");
  }
}

TEST(CudaBackend, IdentityAndDtypes) {
  ALIBI_REQUIRE_GPU();
  auto be = make_cuda_backend();
  EXPECT_EQ(be->device(), Device::CUDA);
  EXPECT_EQ(be->name().rfind("cuda:0 ", 0), 0u) << be->name();
  EXPECT_EQ(be->activation_dtype(), DType::BF16);
  EXPECT_EQ(be->grad_dtype(), DType::F32);
  std::cout << "[ info ] " << be->name() << ", peak " << be->peak_flops() / 1e12 << " TFLOP/s bf16\n";
  EXPECT_GT(be->peak_flops(), 0);
  size_t free_bytes = 0, total_bytes = 0;
  cuda_memory_info(&free_bytes, &total_bytes);
  EXPECT_GT(free_bytes, 0u);
  EXPECT_GE(total_bytes, free_bytes);
}

TEST(CudaBackend, AllocationIsZeroedAndRoundTrips) {
  ALIBI_REQUIRE_GPU();
  Backends be;
  Owned t = allocate(*be.gpu, {1000}, DType::F32);
  EXPECT_TRUE(same_bits(be.download(t.t), std::vector<float>(1000, 0.f)));
  const auto x = random_values(1000, 81);
  be.gpu->upload(t.t, x.data());
  EXPECT_TRUE(same_bits(be.download(t.t), x));
  EXPECT_EQ(be.gpu->allocate(0)->size(), 0u);
}

TEST(CudaBackend, OutOfMemoryNamesTheRequestAndFreeMemory) {
  ALIBI_REQUIRE_GPU();
  auto be = make_cuda_backend();
  try {
    be->allocate(size_t{1} << 50);  // 1 PiB
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(std::to_string(size_t{1} << 50)), std::string::npos) << msg;
    EXPECT_NE(msg.find("free of"), std::string::npos) << msg;
  }
  // The backend still works afterwards.
  Backends pair;
  Owned t = pair.to_gpu({1.f, 2.f}, {2}, DType::BF16);
  EXPECT_TRUE(same_bits(pair.download(t.t), {1.f, 2.f}));
}

TEST(CudaBackend, WrongDtypeOrDeviceIsAnInvalidArgumentNamingTheOp) {
  ALIBI_REQUIRE_GPU();
  Backends be;
  Owned f32 = allocate(*be.gpu, {4, 8}, DType::F32), w = allocate(*be.gpu, {8}, DType::BF16);
  Owned stats = allocate(*be.gpu, {4}, DType::F32);
  EXPECT_THROW(be.gpu->layernorm_forward(f32.t, stats.t, stats.t, f32.t, w.t, w.t, 1e-5f), std::invalid_argument);
  try {
    be.gpu->layernorm_forward(f32.t, stats.t, stats.t, f32.t, w.t, w.t, 1e-5f);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("cuda layernorm_forward"), std::string::npos) << e.what();
  }
  Owned host = allocate(*be.cpu, {4}, DType::F32);
  EXPECT_THROW(be.gpu->fill_zero(host.t), std::invalid_argument);
  Owned i32 = allocate(*be.gpu, {4}, DType::I32);
  EXPECT_THROW(be.gpu->copy(i32.t, stats.t), std::invalid_argument);
}

TEST(CudaBackend, SelectionPicksCudaForAutoAndCuda) {
  ALIBI_REQUIRE_GPU();
  RuntimeConfig runtime;
  runtime.device = DeviceChoice::Auto;
  EXPECT_EQ(make_backend(runtime)->device(), Device::CUDA);
  runtime.device = DeviceChoice::Cuda;
  EXPECT_EQ(make_backend(runtime)->device(), Device::CUDA);
  runtime.device = DeviceChoice::Cpu;
  EXPECT_EQ(make_backend(runtime)->device(), Device::CPU);
}

}  // namespace
}  // namespace alibi::cudatest

namespace alibi::cudatest {
namespace {

// The other side of selection, on machines without a GPU (skips with one).
TEST(CudaSelect, WithoutAGpuAutoIsCpuAndCudaIsAClearError) {
  if (cuda_backend_available()) GTEST_SKIP() << "a GPU is visible";
  RuntimeConfig runtime;
  runtime.device = DeviceChoice::Auto;
  EXPECT_EQ(make_backend(runtime)->device(), Device::CPU);
  runtime.device = DeviceChoice::Cuda;
  try {
    make_backend(runtime);
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("runtime.device = cuda, but"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace alibi::cudatest
