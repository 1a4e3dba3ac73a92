// runtime.attention_kernel and runtime.attention_backward: the CUDA backend
// runs the kernels they name, bit for bit those kernels' results (called
// directly on the same device buffers), and refuses the Hopper kernels with a
// clear error where they do not apply.
#include "kernels/attention.cuh"
#include "model/alibi_slopes.h"
#include "tests/cuda/cuda_test_util.h"

namespace alibi::cudatest {
namespace {

using cuda::AttentionBackwardKernel;
using cuda::AttentionForwardKernel;

struct AttentionBuffers {
  AttentionShape s;
  Owned qkv, out, dout, dqkv, lse, slopes, workspace;

  AttentionBuffers(Backends& be, AttentionShape shape) : s(shape) {
    const int64_t C = s.H * s.D;
    qkv = be.to_gpu(random_values(s.B * s.T * 3 * C, 31), {s.B, s.T, 3, s.H, s.D}, DType::BF16);
    dout = be.to_gpu(random_values(s.B * s.T * C, 32), {s.B, s.T, C}, DType::BF16);
    slopes = be.to_gpu(alibi_slopes(static_cast<int>(s.H)), {s.H}, DType::F32);
    out = allocate(*be.gpu, {s.B, s.T, C}, DType::BF16);
    dqkv = allocate(*be.gpu, {s.B, s.T, 3, s.H, s.D}, DType::BF16);
    lse = allocate(*be.gpu, {s.B, s.H, s.T}, DType::F32);
    const int64_t workspace_floats = static_cast<int64_t>(cuda::attention_backward_workspace_bytes(dims()) + 3) / 4;
    workspace = allocate(*be.gpu, {workspace_floats}, DType::F32);
  }
  cuda::AttentionDims dims() const { return {s.B, s.T, s.H, s.D}; }
  __nv_bfloat16* bf(const Owned& o) const { return static_cast<__nv_bfloat16*>(o.t.data); }
  float* f32(const Owned& o) const { return static_cast<float*>(o.t.data); }
};

std::vector<uint32_t> bits(const std::vector<float>& v) {
  std::vector<uint32_t> b(v.size());
  std::memcpy(b.data(), v.data(), v.size() * sizeof(float));
  return b;
}

// The forward's output through a backend with the given options.
std::vector<float> backend_forward(Backends& be, AttentionBuffers& a, CudaBackendOptions options) {
  auto gpu = make_cuda_backend(0, options);
  be.poison(a.out.t);
  gpu->attention_forward(a.out.t, a.lse.t, a.qkv.t, a.slopes.t, a.s);
  gpu->synchronize();
  return be.download(a.out.t);
}

std::vector<float> kernel_forward(Backends& be, AttentionBuffers& a, AttentionForwardKernel kernel) {
  be.poison(a.out.t);
  cuda::attention_forward_using(kernel, a.bf(a.out), a.f32(a.lse), a.bf(a.qkv), a.f32(a.slopes), a.dims(), nullptr);
  cudaDeviceSynchronize();
  return be.download(a.out.t);
}

// dqkv through a backend with the given options, from the lse and out the
// portable forward leaves in the buffers.
std::vector<float> backend_backward(Backends& be, AttentionBuffers& a, CudaBackendOptions options) {
  auto gpu = make_cuda_backend(0, options);
  be.poison(a.dqkv.t);
  gpu->attention_backward(a.dqkv.t, a.dout.t, a.qkv.t, a.out.t, a.lse.t, a.slopes.t, a.s);
  gpu->synchronize();
  return be.download(a.dqkv.t);
}

std::vector<float> kernel_backward(Backends& be, AttentionBuffers& a, AttentionBackwardKernel kernel) {
  be.poison(a.dqkv.t);
  cuda::attention_backward_using(kernel, a.bf(a.dqkv), a.bf(a.dout), a.bf(a.qkv), a.bf(a.out), a.f32(a.lse),
                                 a.f32(a.slopes), a.dims(), a.workspace.t.data, nullptr);
  cudaDeviceSynchronize();
  return be.download(a.dqkv.t);
}

CudaBackendOptions with(AttentionKernelChoice forward, AttentionKernelChoice backward, bool deterministic) {
  CudaBackendOptions o;
  o.attention_forward = forward, o.attention_backward = backward, o.deterministic = deterministic;
  return o;
}

TEST(CudaAttentionChoice, ConfigKeysSelectTheKernelsBitForBit) {
  ALIBI_REQUIRE_GPU();
  using C = AttentionKernelChoice;
  Backends be;
  AttentionBuffers a(be, {2, 300, 6, 64});
  EXPECT_EQ(bits(backend_forward(be, a, with(C::Portable, C::Auto, false))),
            bits(kernel_forward(be, a, AttentionForwardKernel::portable)));
  const bool hopper = cuda::attention_forward_sm90_applies(a.dims());
  EXPECT_EQ(bits(backend_forward(be, a, with(C::Auto, C::Auto, false))),
            bits(kernel_forward(be, a, hopper ? AttentionForwardKernel::sm90 : AttentionForwardKernel::portable)));

  kernel_forward(be, a, AttentionForwardKernel::portable);  // out and lse for the backward
  EXPECT_EQ(bits(backend_backward(be, a, with(C::Auto, C::Portable, false))),
            bits(kernel_backward(be, a, AttentionBackwardKernel::portable)));
  EXPECT_EQ(bits(backend_backward(be, a, with(C::Auto, C::Portable, true))),
            bits(kernel_backward(be, a, AttentionBackwardKernel::portable)));
  if (!hopper) GTEST_SKIP() << "not a compute capability 9.0 device: the Hopper choices are not checked";
  EXPECT_EQ(bits(backend_backward(be, a, with(C::Auto, C::Sm90, true))),
            bits(kernel_backward(be, a, AttentionBackwardKernel::sm90_deterministic)));
  EXPECT_EQ(bits(backend_backward(be, a, with(C::Auto, C::Auto, true))),
            bits(kernel_backward(be, a, AttentionBackwardKernel::sm90_deterministic)));
}

TEST(CudaAttentionChoice, Sm90WhereItDoesNotApplyIsAClearError) {
  ALIBI_REQUIRE_GPU();
  using C = AttentionKernelChoice;
  Backends be;
  AttentionBuffers a(be, {1, 100, 4, 32});  // D = 32: the portable kernels only
  try {
    backend_forward(be, a, with(C::Sm90, C::Auto, false));
    FAIL() << "runtime.attention_kernel=sm90 at D = 32 ran";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("sm90"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("D = 64, 80, 96 or 128"), std::string::npos) << e.what();
  }
  EXPECT_THROW(backend_backward(be, a, with(C::Auto, C::Sm90, false)), std::runtime_error);
}

}  // namespace
}  // namespace alibi::cudatest
