// Host side of the attention kernels: validation, head-dim dispatch and the
// backward's scratch. The kernels are in attention_forward_sm80.cuh and
// attention_backward_sm80.cuh (portable, mma.sync: sm_80 and later) and the
// Hopper *_sm90.cuh, their tiling in attention_traits.cuh.
//
// Kernel choice (docs/results/attention_sm90.md):
//  - forward: the Hopper kernel (attention_forward_sm90.cuh) on compute
//    capability 9.0 for D 64, 80, 96 and 128, unless runtime.attention_kernel
//    asks for the portable one;
//  - backward: likewise the Hopper backward (attention_backward_sm90.cuh),
//    fused (dQ added into an fp32 accumulator by bulk reductions in the L2)
//    or, when determinism is asked for, as two kernels; runtime.attention_backward
//    may ask for the portable backward.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernels/attention.cuh"
#include "kernels/attention_key_skip.cuh"
#include "kernels/attention_launch.cuh"
#include "kernels/attention_traits.cuh"
#include "kernels/bias_grad.cuh"
#include "kernels/chunk_sums.cuh"
#include "kernels/common.cuh"
#include "kernels/device_info.cuh"

namespace alibi::cuda {
namespace {

[[noreturn]] void fail(const char* op, const AttentionDims& dims, const std::string& what) {
  std::ostringstream msg;
  msg << op << " (B=" << dims.B << ", T=" << dims.T << ", H=" << dims.H << ", D=" << dims.D
      << "): " << what;
  throw std::runtime_error(msg.str());
}

void check(cudaError_t st, const char* op, const AttentionDims& dims) {
  if (st != cudaSuccess) fail(op, dims, std::string("launch failed: ") + cudaGetErrorString(st));
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

void validate(const char* op, const AttentionDims& dims) {
  if (dims.B <= 0 || dims.T <= 0 || dims.H <= 0) fail(op, dims, "B, T and H must be positive");
  if (dims.D != 32 && dims.D != 64 && dims.D != 80 && dims.D != 96 && dims.D != 128)
    fail(op, dims, "head dim must be one of 32, 64, 80, 96, 128");
}

// The kernels move rows in 16-byte pieces.
void validate_alignment(const char* op, const AttentionDims& dims,
                        std::initializer_list<const void*> pointers) {
  for (const void* p : pointers)
    if (!aligned16(p)) fail(op, dims, "bf16 tensors must be 16-byte aligned");
}

// The head dims the Hopper kernels take (80 and 96 in 128-column tiles).
bool sm90_head_dim(int64_t D) { return D == 64 || D == 80 || D == 96 || D == 128; }

// Calls f(std::integral_constant<int, D>{}) for the runtime head dim D, one
// of the instantiated kHeadDims; the last stands for any other (validate()
// has refused those already).
template <int kFirst, int... kRest, typename F>
cudaError_t dispatch_among(int64_t D, F&& f) {
  if constexpr (sizeof...(kRest) == 0) {
    return f(std::integral_constant<int, kFirst>{});
  } else {
    if (D == kFirst) return f(std::integral_constant<int, kFirst>{});
    return dispatch_among<kRest...>(D, f);
  }
}

// The portable kernels' head dims, and the Hopper kernels' (sm90_head_dim).
template <typename F>
cudaError_t dispatch_head_dim(int64_t D, F&& f) {
  return dispatch_among<32, 64, 80, 96, 128>(D, f);
}
template <typename F>
cudaError_t dispatch_sm90_head_dim(int64_t D, F&& f) {
  return dispatch_among<64, 80, 96, 128>(D, f);
}

AttentionLaunch launch_of(const AttentionDims& dims, cudaStream_t stream, const AttentionTuning& tuning) {
  return {HeadLayout{dims.T, dims.H, dims.D}, dims.B, stream, tuning};
}

// The value of an environment variable, or "" when it is not set.
std::string environment(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

}  // namespace

AttentionTuning AttentionTuning::from_environment() {
  AttentionTuning t;
  t.pingpong = environment("ALIBI_SM90_PINGPONG") != "0";
  if (const std::string v = environment("ALIBI_SM90_STAGES"); v == "2" || v == "3") t.forward_stages = std::stoi(v);
  t.blocks_major = environment("ALIBI_SM90_ORDER") != "heads";
  if (const std::string v = environment("ALIBI_SM90_FWD_GRID"); v == "sms" || v == "items")
    t.forward_persistent = v == "sms";
  if (const std::string v = environment("ALIBI_SM90_FWD_CONSUMERS"); v == "2" || v == "3")
    t.forward_consumers_d64 = std::stoi(v);
  if (const long long n = std::atoll(environment("ALIBI_SM90_BWD_HEADS_PER_GROUP").c_str()); n > 0)
    t.backward_heads_per_group = static_cast<int>(std::min<long long>(n, 1 << 30));
  t.backward_owned_in_smem = environment("ALIBI_SM90_BWD_OWNED") == "smem";
  t.backward_dq_by_columns = environment("ALIBI_SM90_BWD_DQ") == "columns";
  return t;
}

// The workspace: the row statistics (the Hopper backward's two padded rows
// per head, 2*B*H*ceil64(T) floats, which also hold the portable backward's
// delta [B, H, T]), then (256-byte aligned) the fused Hopper backward's dQ
// accumulator (a little over B*H*T*D floats), then (256-byte aligned) the
// qkv bias gradient's column partials (QkvColumnPartials, q's then v's: 2 *
// B * chunks * H * D floats), where the portable backward's bias_grad
// passes take theirs.
size_t dq_accumulator_offset(const AttentionDims& dims) {
  const int64_t stats = attention_sm90_stats_floats(dims.B, dims.H, dims.T);
  return round_up_256(static_cast<size_t>(stats) * sizeof(float));
}

size_t column_partials_offset(const AttentionDims& dims) {
  const int64_t accum =
      sm90_head_dim(dims.D) ? attention_dq_accumulator_floats(dims.B, dims.H, dims.T, dims.D) : 0;
  return round_up_256(dq_accumulator_offset(dims) + static_cast<size_t>(accum) * sizeof(float));
}

// A head's chunks of rows in the column partials: a block of the Hopper
// kernels that take them; 32 rows for the portable kernels (which take
// none: the space serves bias_grad).
int64_t column_partial_chunks(const AttentionDims& dims) {
  const int64_t rows = sm90_head_dim(dims.D) ? column_sum_rows(sm90_tile_dim(int(dims.D))) : 32;
  return (dims.T + rows - 1) / rows;
}

size_t column_partials_bytes(const AttentionDims& dims) {
  return static_cast<size_t>(2 * dims.B * column_partial_chunks(dims) * dims.H * dims.D) * sizeof(float);
}

size_t attention_backward_workspace_bytes(const AttentionDims& dims) {
  return column_partials_offset(dims) + column_partials_bytes(dims);
}

// dqkv_sums (attention.cuh): q += dq's column sums, k += exactly 0 (written
// 0 without `accumulate`), v += dout's column sums; from the partials the
// Hopper kernels left (v's always, q's from the fused backward), the rest
// by passes of bias_grad over dout or dqkv's q third (their scratch: the
// partials' space, once v's partials are added).
void add_qkv_bias_sums(float* dqkv_sums, bool accumulate, const bf16* dqkv, const bf16* dout,
                       const AttentionDims& dims, const QkvColumnPartials& partials, void* scratch,
                       size_t scratch_bytes, cudaStream_t stream) {
  const int64_t C = dims.H * dims.D, N = dims.B * dims.T, rows = dims.B * partials.chunks;
  float *q = dqkv_sums, *k = dqkv_sums + C, *v = dqkv_sums + 2 * C;
  if (!accumulate) add_chunk_sums({k}, nullptr, 0, C, stream, /*accumulate=*/false);
  if (partials.q != nullptr) return add_chunk_sums({q, v}, partials.q, rows, C, stream, accumulate);
  if (partials.v != nullptr)
    add_chunk_sums({v}, partials.v, rows, C, stream, accumulate);
  else
    bias_grad(v, dout, N, C, scratch, scratch_bytes, stream, accumulate);
  bias_grad_strided(q, dqkv, N, C, 3 * C, scratch, scratch_bytes, stream, accumulate);
}

bool attention_forward_sm90_applies(const AttentionDims& dims) {
  if (!sm90_head_dim(dims.D)) return false;
  // TMA coordinates are 32-bit: rows of the {D, 3H, B*T} view (and a tile past them) must fit.
  if (dims.B * dims.T + 256 >= (int64_t(1) << 31)) return false;
  const ComputeCapability cc = compute_capability();  // the kernels are built for sm_90a only
  return cc.major == 9 && cc.minor == 0;
}

size_t attention_key_skip_workspace_bytes(const AttentionDims& dims) {
  return size_t(KeySkipBounds::floats(dims.B * dims.H, dims.T)) * sizeof(float);
}

void attention_forward_using(AttentionForwardKernel kernel, bf16* out, float* lse, const bf16* qkv,
                             const float* slopes, const AttentionDims& dims, cudaStream_t stream,
                             void* key_skip_workspace, const AttentionTuning& tuning) {
  constexpr const char* op = "attention_forward";
  validate(op, dims);
  validate_alignment(op, dims, {out, qkv});
  const AttentionLaunch l = launch_of(dims, stream, tuning);
  bool sm90 = false;
  switch (kernel) {
    case AttentionForwardKernel::automatic:
      sm90 = attention_forward_sm90_applies(dims);
      break;
    case AttentionForwardKernel::portable:
      break;
    case AttentionForwardKernel::sm90:
      if (!attention_forward_sm90_applies(dims))
        fail(op, dims, "the sm90 kernel needs a compute capability 9.0 device and D = 64, 80, 96 or 128");
      sm90 = true;
      break;
  }
  if (sm90) {
    // The bounds kernel's grid is (B*H, blocks of kKeySkipRows = 64 queries):
    // past 65535 blocks (4M tokens) every key is computed.
    float* key_bounds = KeySkipBounds::blocks_of(dims.T) <= 65535 ? static_cast<float*>(key_skip_workspace)
                                                                   : nullptr;
    if (key_bounds != nullptr) check(launch_attention_key_bounds(key_bounds, qkv, l.layout, l.B, stream), op, dims);
    check(dispatch_sm90_head_dim(dims.D,
                                 [&](auto d) {
                                   return launch_attention_forward_sm90<decltype(d)::value>(out, lse, qkv, slopes,
                                                                                            key_bounds, l);
                                 }),
          op, dims);
    return;
  }
  check(dispatch_head_dim(dims.D,
                          [&](auto d) {
                            return launch_attention_forward<decltype(d)::value>(out, lse, qkv,
                                                                                slopes, l);
                          }),
        op, dims);
}

void attention_forward(bf16* out, float* lse, const bf16* qkv, const float* slopes,
                       const AttentionDims& dims, cudaStream_t stream, void* key_skip_workspace,
                       const AttentionTuning& tuning) {
  attention_forward_using(AttentionForwardKernel::automatic, out, lse, qkv, slopes, dims, stream,
                          key_skip_workspace, tuning);
}

bool attention_backward_sm90_applies(const AttentionDims& dims) {
  // The grid is (B*H, ceil(T/128)): gridDim.y <= 65535. The rest as the forward
  // (D 64/128, 32-bit TMA row coordinates, compute capability 9.0).
  if ((dims.T + 127) / 128 > 65535) return false;
  return attention_forward_sm90_applies(dims);
}

AttentionBackwardKernel attention_backward_choice(const AttentionDims& dims, bool deterministic) {
  if (!attention_backward_sm90_applies(dims)) return AttentionBackwardKernel::portable;
  // In 128-column tiles up to 1024 tokens the pair of kernels is the faster
  // one: the fused kernel's dQ accumulator (zeroed, then converted) costs per
  // token, the pair's recomputation per token pair (docs/results/attention_sm90.md).
  if (deterministic || (sm90_tile_dim(int(dims.D)) == 128 && dims.T <= 1024))
    return AttentionBackwardKernel::sm90_deterministic;
  return AttentionBackwardKernel::sm90;
}

void attention_backward_using(AttentionBackwardKernel kernel, bf16* dqkv, const bf16* dout,
                              const bf16* qkv, const bf16* out, const float* lse,
                              const float* slopes, const AttentionDims& dims, void* workspace,
                              cudaStream_t stream, const AttentionTuning& tuning, float* dqkv_sums,
                              bool accumulate) {
  constexpr const char* op = "attention_backward";
  validate(op, dims);
  validate_alignment(op, dims, {dqkv, dout, qkv, out});
  if (kernel == AttentionBackwardKernel::automatic) kernel = attention_backward_choice(dims, false);
  const AttentionLaunch l = launch_of(dims, stream, tuning);
  float* row_stats = static_cast<float*>(workspace);  // delta, or the Hopper backward's rows
  float* partials = reinterpret_cast<float*>(static_cast<char*>(workspace) + column_partials_offset(dims));
  const auto add_sums = [&](const QkvColumnPartials& taken) {
    if (dqkv_sums != nullptr)
      add_qkv_bias_sums(dqkv_sums, accumulate, dqkv, dout, dims, taken, partials, column_partials_bytes(dims), stream);
  };
  if (kernel == AttentionBackwardKernel::portable) {
    check(dispatch_head_dim(dims.D,
                            [&](auto d) {
                              return launch_attention_backward<decltype(d)::value>(
                                  dqkv, dout, qkv, out, lse, slopes, row_stats, l);
                            }),
          op, dims);
    add_sums(QkvColumnPartials{});
    return;
  }
  if (!attention_backward_sm90_applies(dims))
    fail(op, dims, "the sm90 backward needs a compute capability 9.0 device and D = 64, 80, 96 or 128");
  float* dq_accum = kernel == AttentionBackwardKernel::sm90
                        ? reinterpret_cast<float*>(static_cast<char*>(workspace) +
                                                   dq_accumulator_offset(dims))
                        : nullptr;  // sm90_deterministic
  QkvColumnPartials taken;
  if (dqkv_sums != nullptr) {
    taken.chunks = column_partial_chunks(dims);
    taken.v = partials + dims.B * taken.chunks * dims.H * dims.D;  // after q's
    if (dq_accum != nullptr) taken.q = partials;  // the fused backward converts dQ in a kernel of its own
  }
  check(dispatch_sm90_head_dim(dims.D,
                                [&](auto d) {
                                  return launch_attention_backward_sm90<decltype(d)::value>(
                                      dqkv, dout, qkv, out, lse, slopes, row_stats, dq_accum, taken, l);
                                }),
        op, dims);
  add_sums(taken);
}

void attention_backward(bf16* dqkv, const bf16* dout, const bf16* qkv, const bf16* out,
                        const float* lse, const float* slopes, const AttentionDims& dims,
                        bool deterministic, void* workspace, cudaStream_t stream,
                        const AttentionTuning& tuning) {
  attention_backward_using(attention_backward_choice(dims, deterministic), dqkv, dout, qkv, out,
                           lse, slopes, dims, workspace, stream, tuning);
}

}  // namespace alibi::cuda
