// kernels/decode_step_schedule.cuh, the order in which each block of the fused
// decode step streams its weights, compiled for the host: over all blocks,
// every row of every matrix is streamed exactly once; each block's chunks come
// in the order the kernel consumes them (layer by layer, qkv, proj, fc, out,
// then the LM head, each share front to back), none empty and none larger
// than a slot; and chunk(c) agrees with walking the shares one by one.
#include "kernels/decode_step_schedule.cuh"

#include <gtest/gtest.h>

#include <map>
#include <utility>
#include <vector>

namespace alibi::cuda {
namespace {

struct ModelDims {
  int64_t n_layer, C, F, V;
};

constexpr int64_t kSlotBytes = 40 * 1024;

void expect_exact_cover(const ModelDims& d, int64_t blocks) {
  std::map<std::pair<int64_t, int>, std::vector<int>> seen;  // (layer, matrix) -> times each row was streamed
  for (int64_t block = 0; block < blocks; ++block) {
    const DecodeSchedule schedule(d.n_layer, d.C, d.F, d.V, blocks, block, kSlotBytes);
    // The kernel's walk: each matrix's share, chunk by chunk, in order.
    int64_t c = 0;
    for (int64_t layer = 0; layer <= d.n_layer; ++layer)
      for (int which = 0; which < kMatricesPerLayer; ++which) {
        const int matrix = layer == d.n_layer ? kLmHead : which;
        if (layer == d.n_layer && which > 0) break;
        const DecodeMatrixShape shape = decode_matrix_shape(matrix, d.C, d.F, d.V);
        const DecodeShare share = schedule.share(matrix);
        std::vector<int>& rows = seen[{layer, matrix}];
        rows.resize(static_cast<size_t>(shape.outputs));
        for (int64_t k = 0; k < share.chunks(); ++k, ++c) {
          ASSERT_LT(c, schedule.total());
          const DecodeChunk chunk = schedule.chunk(c);
          ASSERT_EQ(chunk.layer, layer) << "block " << block << " chunk " << c;
          ASSERT_EQ(chunk.which, matrix) << "block " << block << " chunk " << c;
          ASSERT_EQ(chunk.first_row, share.first + k * share.chunk_rows);
          ASSERT_GT(chunk.rows, 0);
          ASSERT_LE(chunk.rows * shape.inputs * 2, kSlotBytes);
          for (int64_t r = chunk.first_row; r < chunk.first_row + chunk.rows; ++r) ++rows[static_cast<size_t>(r)];
        }
      }
    EXPECT_EQ(c, schedule.total()) << "block " << block;
  }
  for (const auto& [key, rows] : seen)
    for (size_t r = 0; r < rows.size(); ++r)
      ASSERT_EQ(rows[r], 1) << "layer " << key.first << " matrix " << key.second << " row " << r;
}

TEST(DecodeStepSchedule, EveryRowOnceInTheKernelsOrder) {
  // GPT-2 124M on an H100 (132 SMs) and an odd SM count; a 350M; a model so
  // small that the last blocks have no share of its layers (only LM-head
  // rows, or nothing at all); D = 80 and 96 widths; a wide MLP whose output
  // layer takes one row a chunk.
  for (const ModelDims& d : {ModelDims{12, 768, 3072, 50304}, ModelDims{24, 1024, 4096, 50304},
                             ModelDims{3, 192, 768, 517}, ModelDims{2, 240, 960, 97}, ModelDims{3, 480, 1920, 517},
                             ModelDims{2, 2560, 20480, 1000}})
    for (int64_t blocks : {132, 114, 7, 1}) {
      SCOPED_TRACE("C " + std::to_string(d.C) + " blocks " + std::to_string(blocks));
      expect_exact_cover(d, blocks);
    }
}

}  // namespace
}  // namespace alibi::cuda
