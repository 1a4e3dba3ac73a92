// Fixed-length training windows over a token shard.
//
// Window k covers tokens [k*T, k*T + T] (T + 1 tokens): the input is the
// first T, the target the last T, i.e. the input shifted by one. Windows do
// not overlap except for that one shared boundary token, and there are
// W = (tokens - 1) / T of them; the tail that does not fill a window is unused.
//
// Order: with shuffle, epoch e visits the W windows in a permutation that is
// a pure function of (seed, e); without shuffle (validation), in order. The
// whole iteration state is one integer, the global count of windows consumed
// since the start of training: resuming, or splitting the stream across
// ranks, needs nothing but that number.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

#include "data/shard.h"

namespace alibi {

class WindowLoader {
 public:
  // `shard` must outlive the loader. Throws DataError when the shard holds
  // fewer than seq_len + 1 tokens.
  WindowLoader(const ShardReader& shard, int seq_len, uint64_t seed, bool shuffle);

  int seq_len() const { return seq_len_; }
  int64_t windows_per_epoch() const { return windows_; }
  // The shard window that global position `global_index` maps to.
  int64_t window_at(int64_t global_index) const;

  // Windows first_window .. first_window + batch - 1 of the epoch-ordered
  // stream (wrapping into the next epoch), as [batch, T] row-major arrays.
  // Thread-safe.
  void fill_batch(int64_t first_window, int batch, int32_t* inputs, int32_t* targets) const;

  // Convenience stream: fills a batch at position() and advances it.
  void next_batch(int batch, int32_t* inputs, int32_t* targets);
  int64_t position() const { return position_; }
  void set_position(int64_t position);

 private:
  // Window indices of one epoch's order; cached for the two most recent epochs
  // because a batch can straddle an epoch boundary.
  const std::vector<int64_t>& epoch_order(int64_t epoch) const;
  std::vector<int64_t> make_epoch_order(int64_t epoch) const;

  const ShardReader* shard_;
  int seq_len_;
  uint64_t seed_;
  bool shuffle_;
  int64_t windows_;
  int64_t position_ = 0;

  struct CachedOrder {
    int64_t epoch = -1;
    std::vector<int64_t> order;
  };
  mutable std::mutex cache_mutex_;
  mutable std::array<CachedOrder, 2> cache_;
  mutable int next_slot_ = 0;
};

}  // namespace alibi
