// The machinery the Hopper attention kernels share (the forward, the dK/dV
// and the dQ kernel): one producer warpgroup feeds 64-column, 128-byte
// swizzled tiles by TMA into a ring of shared-memory stages; consumer
// warpgroups wait for a stage to fill and release it when done.
//  - aligned_shared_base: the 1024-byte aligned start of a kernel's layout;
//  - StageRing: the mbarriers of the ring (a block loaded once, then per
//    stream and stage a full and an empty barrier) and their parities;
//  - TileSource and load_rows_sm90: row copies from a tensor map into boxes;
//  - run_roles: warpgroup 0 produces with few registers, the rest consume;
//  - named barriers and the fast exp2 of the consumers' softmax.
#pragma once

#include <cuda.h>

#include <cstdint>

#include "kernels/tma.cuh"
#include "kernels/wgmma.cuh"

namespace alibi::cuda {

// Dynamic shared memory one CTA may have on sm_90.
constexpr size_t kSm90SharedMemoryLimit = 227 * 1024;

// TMA's 128-byte swizzle and the wgmma descriptors assume 1024-byte aligned
// atoms: a layout starts at the dynamic shared memory rounded up to 1024
// bytes (every layout's bytes() reserves the 1024 for it).
__device__ __forceinline__ unsigned char* aligned_shared_base(unsigned char* raw) {
  const uint32_t address = tma::smem_addr(raw);
  return raw + ((1024 - address % 1024) % 1024);
}

// The mbarriers of a ring of kStages stages carrying kStreams streams of
// tiles: with kOnce, first a barrier for a block loaded a single time (Q, or
// the owned block), then per stream and stage full (the producer's arrival
// plus the bytes) and empty (one arrival per consumer part that read it).
// Tile j of a stream lives in stage j % kStages; the waits for it use its
// round's parity.
template <int kStages, int kStreams, bool kOnce = true>
struct StageRing {
  static constexpr int kFirst = kOnce ? 1 : 0;
  static constexpr int kCount = kFirst + 2 * kStreams * kStages;
  uint64_t* base;

  __device__ uint64_t* once() const {
    static_assert(kOnce, "a ring without the once barrier");
    return base;
  }
  __device__ uint64_t* full(int stream, int stage) const { return base + kFirst + stream * kStages + stage; }
  __device__ uint64_t* empty(int stream, int stage) const {
    return base + kFirst + (kStreams + stream) * kStages + stage;
  }
  __device__ static int stage_of(int j) { return j % kStages; }
  __device__ static uint32_t parity_of(int j) { return uint32_t(j / kStages) & 1; }

  // One thread, before the block's first __syncthreads (then
  // tma::barrier_init_fence, once for all of the block's barriers).
  __device__ void init_barriers(int empty_arrivals) const {
    if constexpr (kOnce) tma::barrier_init(once(), 1);
    for (int stream = 0; stream < kStreams; ++stream)
      for (int s = 0; s < kStages; ++s) {
        tma::barrier_init(full(stream, s), 1);
        tma::barrier_init(empty(stream, s), empty_arrivals);
      }
  }
  __device__ void init(int empty_arrivals) const {
    init_barriers(empty_arrivals);
    tma::barrier_init_fence();
  }
  // The producer, before loading tile j: the stage's previous tile (j -
  // kStages) must have been consumed.
  __device__ void wait_free(int stream, int j) const {
    if (j >= kStages) tma::wait(empty(stream, stage_of(j)), parity_of(j - kStages));
  }
  // A consumer, before reading tile j.
  __device__ void wait_full(int stream, int j) const { tma::wait(full(stream, stage_of(j)), parity_of(j)); }
};

// One tensor as the TMA sees it (tensor_map.cuh): a 3-D map {D, parts,
// B*T}, innermost first, in boxes of 64 columns; column selects the (part,
// head) column block, row_base is b * T.
struct TileSource {
  const CUtensorMap* map;
  int column;
  int row_base;
};

// Copies rows [row, row + kRows) of src into Tr::kBoxes 64-column boxes at
// dst (box_bytes apart), Tr::kBoxRows rows a copy; the bytes complete on bar.
template <class Tr, int kRows>
__device__ __forceinline__ void load_rows_sm90(unsigned char* dst, int box_bytes, const TileSource& src,
                                               uint64_t* bar, int row) {
  static_assert(kRows % Tr::kBoxRows == 0, "whole TMA copies");
#pragma unroll
  for (int box = 0; box < Tr::kBoxes; ++box)
#pragma unroll
    for (int r = 0; r < kRows / Tr::kBoxRows; ++r)
      tma::load_3d(dst + box * box_bytes + r * Tr::kBoxRows * Tr::kRowBytes, src.map, bar,
                   box * Tr::kBoxCols, src.column, src.row_base + row + r * Tr::kBoxRows);
}

// Warpgroup 0 runs produce() with Tr::kProducerRegs registers a thread;
// warpgroups 1 .. kConsumers run consume(consumer) with Tr::kConsumerRegs.
template <class Tr, class Produce, class Consume>
__device__ __forceinline__ void run_roles(Produce&& produce, Consume&& consume) {
  const int warpgroup = threadIdx.x / 128;
  if (warpgroup == 0) {
    wgmma::shrink_registers<Tr::kProducerRegs>();
    produce();
  } else {
    wgmma::grow_registers<Tr::kConsumerRegs>();
    consume(warpgroup - 1);
  }
}

// Named barriers among the consumer warpgroups (id 0 is __syncthreads).
__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_barrier_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

}  // namespace alibi::cuda
