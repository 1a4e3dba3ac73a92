// Thin wrappers over Hopper's warpgroup matrix instructions (PTX wgmma,
// sm_90a only): shared-memory matrix descriptors, the asynchronous
// multiply-accumulate, its fences, and setmaxnreg. Layout facts the callers
// rely on are stated here once.
//
// A warpgroup is 4 consecutive warps starting at a warp index divisible by 4;
// all 128 threads execute every instruction below together.
//
// Accumulator (D) layout of m64nNk16 with f32 D: warp w of the warpgroup owns
// rows 16w..16w+15; within the warp it is the mma.sync m16n8 C layout
// repeated along N in 8-column chunks. Here D is held as float d[N/8][4]:
// d[c][e] is row 16w + lane/4 + 8*(e/2), column 8c + 2*(lane%4) + e%2 (the
// PTX register order d0, d1, ... is d[0][0], d[0][1], ..., d[1][0], ...).
//
// Register A operand (bf16): per warp, the mma.sync m16n8k16 A fragment of
// its 16 rows: a[0] = (row g, k 2t..2t+1), a[1] = (g+8, 2t..), a[2] = (g,
// 2t+8..), a[3] = (g+8, 2t+8..), g = lane/4, t = lane%4. So two adjacent
// 8-column accumulator chunks, rounded to bf16 pairs, are one k16 A slice.
#pragma once

#include <cstdint>

namespace alibi::cuda::wgmma {

// Shared-memory matrix descriptor of an operand stored with the 128-byte
// swizzle, as TMA writes it with CU_TENSOR_MAP_SWIZZLE_128B: rows of 128
// bytes (64 bf16); each group of 8 rows (1024 bytes) is one swizzle atom in
// which the 16-byte chunk c of row r sits at chunk c ^ r. The hardware
// applies the swizzle to the final address bits, so atoms must be 1024-byte
// aligned (base offset 0) and a start address may be moved inside a row.
// Bits: 0-13 start address >> 4; 16-29 leading byte offset (LBO) >> 4;
// 32-45 stride byte offset (SBO) >> 4; 49-51 base offset; 62-63 swizzle
// mode (1 = 128 B).
//  - K-major operand (rows are M or N, the 64 elements of a row are K):
//    SBO = 1024 (the next 8 rows); LBO is unused (1). The k-th 16-element K
//    slice starts 32 * k bytes into the row.
//  - MN-major operand (rows are K, the 64 elements of a row are M or N):
//    SBO = 1024 (the next 8 K rows), LBO = bytes to the next 64 M/N columns.
//    A k16 slice spans two atoms: it starts 2048 * k bytes further.
__device__ __forceinline__ uint64_t desc_sw128(uint32_t smem_addr, uint32_t lbo_bytes,
                                               uint32_t sbo_bytes) {
  uint64_t d = (smem_addr & 0x3FFFFu) >> 4;
  d |= uint64_t((lbo_bytes >> 4) & 0x3FFFu) << 16;
  d |= uint64_t((sbo_bytes >> 4) & 0x3FFFu) << 32;
  d |= uint64_t(1) << 62;
  return d;
}

// Orders this thread's earlier register writes (accumulators, A fragments)
// before the next wgmma reads them; needed before the first wgmma of a batch.
__device__ __forceinline__ void fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
// Closes the batch of wgmma issued since the last commit into one group.
__device__ __forceinline__ void commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
// Waits until at most kPending committed groups are still running.
template <int kPending>
__device__ __forceinline__ void wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}
// Keeps the compiler from moving reads or writes of an accumulator across
// this point (the asynchronous wgmma writes it behind the compiler's back).
template <int kChunks>
__device__ __forceinline__ void fence_operand(float (&d)[kChunks][4]) {
#pragma unroll
  for (int c = 0; c < kChunks; ++c)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+f"(d[c][e])::"memory");
}

// Register reallocation between warpgroups (needs a register cap at kernel
// entry: __launch_bounds__(threads, 1)).
template <int kRegs>
__device__ __forceinline__ void grow_registers() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegs));
}
template <int kRegs>
__device__ __forceinline__ void shrink_registers() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegs));
}

// ---- m64nNk16, bf16 inputs, f32 accumulators (operand lists written out) ----

// D[64 x 32] (+)= A[64 x 16] * B[16 x 32], A and B in shared memory (descriptors).
template <int kTransB, int kTransA = 0>
__device__ __forceinline__ void mma_ss_m64n32k16(float (&d)[4][4], uint64_t desc_a, uint64_t desc_b,
                                                int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, "
      "%16, %17, p, 1, 1, %20, %19;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),
        "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
        "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
        "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3])
      : "l"(desc_a), "l"(desc_b), "r"(scale_d), "n"(kTransB), "n"(kTransA));
}

// D[64 x 64] (+)= A[64 x 16] * B[16 x 64], A and B in shared memory (descriptors).
// scale_d = 0 overwrites D, 1 accumulates; trans_b: B is MN-major.
template <int kTransB, int kTransA = 0>
__device__ __forceinline__ void mma_ss_m64n64k16(float (&d)[8][4], uint64_t desc_a, uint64_t desc_b,
                                                int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
      "%32, %33, p, 1, 1, %36, %35;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),
        "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
        "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
        "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]),
        "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),
        "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
        "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),
        "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])
      : "l"(desc_a), "l"(desc_b), "r"(scale_d), "n"(kTransB), "n"(kTransA));
}

// D[64 x 64] (+)= A[64 x 16] * B[16 x 64], A in registers (per warp, the
// mma.sync m16n8k16 A fragment of its 16 rows), B in shared memory (descriptor).
template <int kTransB>
__device__ __forceinline__ void mma_rs_m64n64k16(float (&d)[8][4], const uint32_t (&a)[4],
                                                uint64_t desc_b, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
      "{%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),
        "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
        "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
        "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]),
        "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),
        "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
        "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),
        "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(scale_d), "n"(kTransB));
}

// D[64 x 128] (+)= A[64 x 16] * B[16 x 128], A and B in shared memory (descriptors).
// scale_d = 0 overwrites D, 1 accumulates; trans_b: B is MN-major.
template <int kTransB, int kTransA = 0>
__device__ __forceinline__ void mma_ss_m64n128k16(float (&d)[16][4], uint64_t desc_a, uint64_t desc_b,
                                                int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "%64, %65, p, 1, 1, %68, %67;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),
        "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
        "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
        "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]),
        "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),
        "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
        "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),
        "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]),
        "+f"(d[8][0]), "+f"(d[8][1]), "+f"(d[8][2]), "+f"(d[8][3]),
        "+f"(d[9][0]), "+f"(d[9][1]), "+f"(d[9][2]), "+f"(d[9][3]),
        "+f"(d[10][0]), "+f"(d[10][1]), "+f"(d[10][2]), "+f"(d[10][3]),
        "+f"(d[11][0]), "+f"(d[11][1]), "+f"(d[11][2]), "+f"(d[11][3]),
        "+f"(d[12][0]), "+f"(d[12][1]), "+f"(d[12][2]), "+f"(d[12][3]),
        "+f"(d[13][0]), "+f"(d[13][1]), "+f"(d[13][2]), "+f"(d[13][3]),
        "+f"(d[14][0]), "+f"(d[14][1]), "+f"(d[14][2]), "+f"(d[14][3]),
        "+f"(d[15][0]), "+f"(d[15][1]), "+f"(d[15][2]), "+f"(d[15][3])
      : "l"(desc_a), "l"(desc_b), "r"(scale_d), "n"(kTransB), "n"(kTransA));
}

// D[64 x 128] (+)= A[64 x 16] * B[16 x 128], A in registers (per warp, the
// mma.sync m16n8k16 A fragment of its 16 rows), B in shared memory (descriptor).
template <int kTransB>
__device__ __forceinline__ void mma_rs_m64n128k16(float (&d)[16][4], const uint32_t (&a)[4],
                                                uint64_t desc_b, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "{%64, %65, %66, %67}, %68, p, 1, 1, %70;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),
        "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
        "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
        "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]),
        "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),
        "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
        "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),
        "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]),
        "+f"(d[8][0]), "+f"(d[8][1]), "+f"(d[8][2]), "+f"(d[8][3]),
        "+f"(d[9][0]), "+f"(d[9][1]), "+f"(d[9][2]), "+f"(d[9][3]),
        "+f"(d[10][0]), "+f"(d[10][1]), "+f"(d[10][2]), "+f"(d[10][3]),
        "+f"(d[11][0]), "+f"(d[11][1]), "+f"(d[11][2]), "+f"(d[11][3]),
        "+f"(d[12][0]), "+f"(d[12][1]), "+f"(d[12][2]), "+f"(d[12][3]),
        "+f"(d[13][0]), "+f"(d[13][1]), "+f"(d[13][2]), "+f"(d[13][3]),
        "+f"(d[14][0]), "+f"(d[14][1]), "+f"(d[14][2]), "+f"(d[14][3]),
        "+f"(d[15][0]), "+f"(d[15][1]), "+f"(d[15][2]), "+f"(d[15][3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(scale_d), "n"(kTransB));
}

// D[64 x N] (+)= A * B with A and B in shared memory; kTransA: A is
// M-major (its rows are K), kTransB: B is N-major (its rows are K).
template <int N, int kTransB, int kTransA = 0>
__device__ __forceinline__ void mma_ss(float (&d)[N / 8][4], uint64_t desc_a, uint64_t desc_b,
                                       int scale_d) {
  static_assert(N == 32 || N == 64 || N == 128, "instantiated shapes: N = 32, 64, 128");
  if constexpr (N == 32)
    mma_ss_m64n32k16<kTransB, kTransA>(d, desc_a, desc_b, scale_d);
  else if constexpr (N == 64)
    mma_ss_m64n64k16<kTransB, kTransA>(d, desc_a, desc_b, scale_d);
  else
    mma_ss_m64n128k16<kTransB, kTransA>(d, desc_a, desc_b, scale_d);
}

// D[64 x N] (+)= A * B with A in registers, B in shared memory.
template <int N, int kTransB>
__device__ __forceinline__ void mma_rs(float (&d)[N / 8][4], const uint32_t (&a)[4],
                                       uint64_t desc_b, int scale_d) {
  static_assert(N == 64 || N == 128, "instantiated shapes: N = 64, 128");
  if constexpr (N == 64)
    mma_rs_m64n64k16<kTransB>(d, a, desc_b, scale_d);
  else
    mma_rs_m64n128k16<kTransB>(d, a, desc_b, scale_d);
}

}  // namespace alibi::cuda::wgmma
