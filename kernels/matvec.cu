#include "kernels/matvec.cuh"

#include <algorithm>

#include "cuda/cuda_check.cuh"
#include "kernels/common.cuh"
#include "kernels/dependent_launch.cuh"
#include "kernels/gelu_math.cuh"
#include "kernels/layernorm_row.cuh"

namespace alibi::cuda {
namespace {

// A block of kThreads reduces Tile::kOutputs weight rows (a "group") at a
// time, its threads striding the rows in 16-byte pieces of 8 channels,
// Tile::kPieces pieces of each row in registers: one round covers
// kThreads * kPieces pieces, and a block has the first round of its first
// group in flight before it waits for the previous kernel. Each block takes
// every gridDim.x-th group; the next group's first round loads during the
// reduction of the current one.
constexpr int kThreads = 128;
constexpr int kWarps = kThreads / kWarp;
constexpr int kVec = 8;
constexpr size_t kMaxInputBytes = 96 * 1024;  // the input rows (and norm), in shared memory

template <int kOutputsT, int kPiecesT>
struct Tile {
  static constexpr int kOutputs = kOutputsT, kPieces = kPiecesT;
  static constexpr int64_t kRoundPieces = int64_t{kThreads} * kPieces;
};
// Rows of up to 1024 channels (a d_model-wide input) in one round, eight of
// them a group; wider rows (the MLP's output layer) four a group, 4096
// channels a round. Either way a thread holds 32 registers of weights.
using NarrowTile = Tile<8, 1>;
using WideTile = Tile<4, 4>;

// A layer's product takes three blocks an SM (enough for a 124M model's
// widest layer in one wave), leaving room for the kernel after it to start
// early; a product of many more groups (an LM head) fills the GPU.
constexpr int kBlocksPerSm = 3;
constexpr int64_t kFillingGroupsPerSm = 16;

struct Params {
  MatvecArgs a;
  MatvecNorm norm;  // a copy: the kernel cannot read the host's
  bool has_norm;
};

// Piece i of this thread in `round`.
template <typename T>
__device__ __forceinline__ int64_t piece_of(int64_t round, int i) {
  return round * T::kRoundPieces + int64_t{i} * kThreads + threadIdx.x;
}

// Weight rows first .. first + kOutputs - 1, this thread's pieces of `round`
// (zeros past the matrix).
template <typename T>
__device__ __forceinline__ void load_weights(uint4 (&w)[T::kOutputs][T::kPieces], const MatvecArgs& a, int64_t first,
                                             int64_t round) {
  const int64_t pieces = a.C / kVec;
#pragma unroll
  for (int r = 0; r < T::kOutputs; ++r)
#pragma unroll
    for (int i = 0; i < T::kPieces; ++i) {
      const int64_t o = first + r, q = piece_of<T>(round, i);
      w[r][i] = o < a.OC && q < pieces ? __ldg(reinterpret_cast<const uint4*>(a.weight + o * a.C) + q)
                                       : make_uint4(0, 0, 0, 0);
    }
}

// LayerNorm of one input row in shared memory, in place, from the norm's
// weight and bias there too; the first block also writes it out.
__device__ void normalise_row(uint4* row, const uint4* weight, const uint4* bias, const Params& p, int64_t b,
                              float* scratch) {
  const RowNorm norm = normalise_shared_row(row, weight, bias, p.a.C, p.norm.eps, scratch);
  if (blockIdx.x != 0) return;
  if (p.norm.out)  // each thread its own pieces, as normalise_shared_row wrote them
    for (int64_t q = threadIdx.x; q < p.a.C / kVec; q += kThreads)
      reinterpret_cast<uint4*>(p.norm.out + b * p.a.C)[q] = row[q];
  if (threadIdx.x == 0) {
    if (p.norm.mean) p.norm.mean[b] = norm.mean;
    if (p.norm.rstd) p.norm.rstd[b] = norm.rstd;
  }
}

// The kRows input rows (rows past N as zeros) and the norm's weight and bias
// into shared memory, all loads of one round trip; then each row
// normalised where the product has a norm.
template <int kRows>
__device__ void stage_inputs(uint4* xs, const Params& p, float* scratch) {
  const int64_t pieces = p.a.C / kVec;
  uint4* norm_weight = xs + kRows * pieces;
  uint4* norm_bias = norm_weight + pieces;
  for (int64_t q = threadIdx.x; q < pieces; q += kThreads) {
#pragma unroll
    for (int b = 0; b < kRows; ++b)
      xs[b * pieces + q] = b < p.a.N ? reinterpret_cast<const uint4*>(p.a.inp + b * p.a.C)[q] : make_uint4(0, 0, 0, 0);
    if (p.has_norm) {
      norm_weight[q] = reinterpret_cast<const uint4*>(p.norm.weight)[q];
      norm_bias[q] = reinterpret_cast<const uint4*>(p.norm.bias)[q];
    }
  }
  if (!p.has_norm) return;
  __syncthreads();
  for (int64_t b = 0; b < p.a.N; ++b) normalise_row(xs + b * pieces, norm_weight, norm_bias, p, b, scratch);
}

template <int kRows, typename T>
__device__ __forceinline__ void accumulate(float (&acc)[T::kOutputs][kRows], const uint4 (&w)[T::kOutputs][T::kPieces],
                                           const uint4* xs, int64_t pieces, int64_t round) {
#pragma unroll
  for (int i = 0; i < T::kPieces; ++i) {
    const int64_t q = piece_of<T>(round, i);
    if (q >= pieces) break;
    float wf[T::kOutputs][kVec];
#pragma unroll
    for (int r = 0; r < T::kOutputs; ++r) unpack_bf16x8(w[r][i], wf[r]);
#pragma unroll
    for (int b = 0; b < kRows; ++b) {
      float x[kVec];
      unpack_bf16x8(xs[b * pieces + q], x);
#pragma unroll
      for (int r = 0; r < T::kOutputs; ++r)
#pragma unroll
        for (int k = 0; k < kVec; ++k) acc[r][b] = fmaf(wf[r][k], x[k], acc[r][b]);
    }
  }
}

// What the epilogue of one output adds besides the product: its bias and
// (Residual) its residual. Loaded by the thread that stores the output, ahead
// of the sums, so that the epilogue does not wait for memory: the bias before
// the wait for the previous kernel (a parameter, like the weights), the
// residual right after it, beside the input rows.
struct OutputAddends {
  float bias = 0.f, residual = 0.f;
};

// The output of this thread in a group from `first` (threads below
// kOutputs * kRows each store one: row b, output o), or false.
template <int kRows, typename T>
__device__ __forceinline__ bool output_of_thread(const MatvecArgs& a, int64_t first, int64_t& b, int64_t& o) {
  if (threadIdx.x >= T::kOutputs * kRows) return false;
  o = first + threadIdx.x / kRows, b = threadIdx.x % kRows;
  return o < a.OC && b < a.N;
}

template <int kRows, typename T>
__device__ __forceinline__ void load_bias(OutputAddends& add, const MatvecArgs& a, int64_t first) {
  int64_t b, o;
  if (a.bias && output_of_thread<kRows, T>(a, first, b, o)) add.bias = to_f32(a.bias[o]);
}

// After the wait for the previous kernel: the residual may be its output.
template <int kRows, typename T>
__device__ __forceinline__ void load_residual(OutputAddends& add, const MatvecArgs& a, int64_t first) {
  int64_t b, o;
  if (a.epilogue == MatvecEpilogue::Residual && output_of_thread<kRows, T>(a, first, b, o))
    add.residual = to_f32(a.residual[b * a.OC + o]);
}

__device__ __forceinline__ void store_output(const MatvecArgs& a, int64_t b, int64_t o, float v,
                                             const OutputAddends& add) {
  if (a.bias) v += add.bias;  // not + 0 without one: that would turn a -0 into +0
  const int64_t i = b * a.OC + o;
  switch (a.epilogue) {
    case MatvecEpilogue::Bias:
      a.out[i] = __float2bfloat16_rn(v);
      break;
    case MatvecEpilogue::Residual:
      a.out[i] = __float2bfloat16_rn(v + add.residual);
      break;
    case MatvecEpilogue::Gelu: {
      const bf16 pre = __float2bfloat16_rn(v);  // GELU of pre as stored: out = GELU(pre) exactly
      const float x = to_f32(pre);
      a.pre[i] = pre;
      a.out[i] = __float2bfloat16_rn(x * gelu_gate(x));
      break;
    }
  }
}

// The group's sums over the block (fixed order: the same bits every run),
// then the epilogue, one thread an output.
template <int kRows, typename T>
__device__ void reduce_and_store(float (&acc)[T::kOutputs][kRows], float (&partial)[kWarps][T::kOutputs * kRows],
                                 const MatvecArgs& a, int64_t first, const OutputAddends& add) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
#pragma unroll
  for (int r = 0; r < T::kOutputs; ++r)
#pragma unroll
    for (int b = 0; b < kRows; ++b) {
      const float v = warp_sum(acc[r][b]);
      if (lane == 0) partial[warp][r * kRows + b] = v;
    }
  __syncthreads();
  int64_t b, o;
  if (output_of_thread<kRows, T>(a, first, b, o)) {
    float v = 0.f;
    for (int w = 0; w < kWarps; ++w) v += partial[w][threadIdx.x];
    store_output(a, b, o, v, add);
  }
  __syncthreads();  // partial is the next group's
}

template <int kRows, typename T>
__global__ void __launch_bounds__(kThreads) matvec_kernel(Params p) {
  extern __shared__ uint4 xs[];  // [kRows][C / 8] input rows, then (with a norm) its weight and bias
  __shared__ float partial[kWarps][T::kOutputs * kRows];
  __shared__ float scratch[kWarp];
  const MatvecArgs& a = p.a;
  const int64_t pieces = a.C / kVec;
  const int64_t groups = (a.OC + T::kOutputs - 1) / T::kOutputs;
  const int64_t rounds = (pieces + T::kRoundPieces - 1) / T::kRoundPieces;
  int64_t group = blockIdx.x;
  uint4 w[T::kOutputs][T::kPieces];
  OutputAddends add;
  load_weights<T>(w, a, group * T::kOutputs, 0);  // the weights never depend on the previous kernel
  load_bias<kRows, T>(add, a, group * T::kOutputs);
  wait_for_previous_kernels();
  allow_next_kernel_to_start();
  load_residual<kRows, T>(add, a, group * T::kOutputs);
  stage_inputs<kRows>(xs, p, scratch);
  __syncthreads();
  while (group < groups) {
    float acc[T::kOutputs][kRows] = {};
    for (int64_t round = 0; round < rounds; ++round) {
      if (round > 0) load_weights<T>(w, a, group * T::kOutputs, round);
      accumulate<kRows, T>(acc, w, xs, pieces, round);
    }
    const int64_t next = group + gridDim.x;
    OutputAddends next_add;
    if (next < groups) {
      load_weights<T>(w, a, next * T::kOutputs, 0);
      load_bias<kRows, T>(next_add, a, next * T::kOutputs);
      load_residual<kRows, T>(next_add, a, next * T::kOutputs);
    }
    reduce_and_store<kRows, T>(acc, partial, a, group * T::kOutputs, add);
    add = next_add;
    group = next;
  }
}

// Shared memory for kRows input rows of C channels, and the norm's weight and bias.
size_t input_bytes(int64_t rows, int64_t C, bool norm) {
  return static_cast<size_t>(rows + (norm ? 2 : 0)) * static_cast<size_t>(C) * sizeof(bf16);
}

int64_t padded_rows(int64_t N) {
  int64_t rows = 1;
  while (rows < N) rows *= 2;
  return rows;
}

template <int kRows, typename T>
void launch(const Params& p, cudaStream_t stream) {
  const MatvecArgs& a = p.a;
  const auto kernel = matvec_kernel<kRows, T>;
  const size_t shared = input_bytes(kRows, a.C, p.has_norm);
  static const bool opted_in = [&] {  // above 48 KiB, a kernel must ask for it
    check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(kMaxInputBytes)),
               "matvec (shared memory)");
    return true;
  }();
  (void)opted_in;
  int per_sm = 0;
  check_cuda(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, shared), "matvec (occupancy)");
  const int64_t groups = (a.OC + T::kOutputs - 1) / T::kOutputs, sms = multiprocessor_count();
  const int64_t per_sm_used = groups >= kFillingGroupsPerSm * sms ? per_sm : std::min(per_sm, kBlocksPerSm);
  const int64_t blocks = std::min<int64_t>(groups, std::max<int64_t>(1, per_sm_used) * sms);
  launch_dependent(kernel, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), shared, stream, p);
  check_launch("matvec", {{"N", a.N}, {"C", a.C}, {"OC", a.OC}});
}

template <int kRows>
void launch_tiled(const Params& p, cudaStream_t stream) {
  if (p.a.C <= NarrowTile::kRoundPieces * kVec) return launch<kRows, NarrowTile>(p, stream);
  launch<kRows, WideTile>(p, stream);
}

}  // namespace

bool matvec_suits(const MatvecArgs& a) {
  if (a.N < 1 || a.N > kMatvecMaxRows || a.C < kVec || a.C % kVec != 0 || a.OC < 1) return false;
  if (input_bytes(padded_rows(a.N), a.C, a.norm != nullptr) > kMaxInputBytes) return false;
  if (!aligned16(a.inp) || !aligned16(a.weight)) return false;
  if (a.norm && (!aligned16(a.norm->weight) || !aligned16(a.norm->bias) || (a.norm->out && !aligned16(a.norm->out))))
    return false;
  return true;
}

void matvec(const MatvecArgs& a, cudaStream_t stream) {
  const Dims shape = {{"N", a.N}, {"C", a.C}, {"OC", a.OC}};
  if (!matvec_suits(a)) throw_cuda_error("matvec", shape, "shape or alignment outside the matrix-vector path");
  if ((a.epilogue == MatvecEpilogue::Residual && !a.residual) || (a.epilogue == MatvecEpilogue::Gelu && !a.pre))
    throw_cuda_error("matvec", shape, "the epilogue's extra tensor is missing");
  Params p{a, a.norm ? *a.norm : MatvecNorm{}, a.norm != nullptr};
  p.a.norm = nullptr;
  switch (padded_rows(a.N)) {
    case 1: return launch_tiled<1>(p, stream);
    case 2: return launch_tiled<2>(p, stream);
    case 4: return launch_tiled<4>(p, stream);
    default: return launch_tiled<8>(p, stream);
  }
}

}  // namespace alibi::cuda
