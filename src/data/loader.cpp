#include "data/loader.h"

#include <string>

#include "core/random.h"

namespace alibi {
namespace {

constexpr uint64_t kWindowOrderTag = 0x77696e646f77ULL;  // "window"

}  // namespace

WindowLoader::WindowLoader(const ShardReader& shard, int seq_len, uint64_t seed, bool shuffle)
    : shard_(&shard), seq_len_(seq_len), seed_(seed), shuffle_(shuffle) {
  if (seq_len < 1) throw DataError("shard " + shard.path() + ": sequence length " + std::to_string(seq_len) + " must be >= 1");
  if (shard.size() < static_cast<int64_t>(seq_len) + 1)
    throw DataError("shard " + shard.path() + " holds " + std::to_string(shard.size()) +
                    " tokens, fewer than the " + std::to_string(int64_t{seq_len} + 1) +
                    " (sequence length + 1) needed for one window");
  windows_ = (shard.size() - 1) / seq_len;
}

std::vector<int64_t> WindowLoader::make_epoch_order(int64_t epoch) const {
  std::vector<int64_t> order(static_cast<size_t>(windows_));
  for (int64_t i = 0; i < windows_; ++i) order[i] = i;
  Rng rng(derive_seed(seed_, kWindowOrderTag, static_cast<uint64_t>(epoch)));
  for (int64_t i = windows_ - 1; i > 0; --i) std::swap(order[i], order[rng.below(static_cast<uint64_t>(i) + 1)]);
  return order;
}

const std::vector<int64_t>& WindowLoader::epoch_order(int64_t epoch) const {
  for (const CachedOrder& cached : cache_)
    if (cached.epoch == epoch) return cached.order;
  CachedOrder& slot = cache_[next_slot_];
  next_slot_ = 1 - next_slot_;
  slot.order = make_epoch_order(epoch);
  slot.epoch = epoch;
  return slot.order;
}

int64_t WindowLoader::window_at(int64_t global_index) const {
  if (global_index < 0) throw DataError("shard " + shard_->path() + ": negative window index " + std::to_string(global_index));
  const int64_t within = global_index % windows_;
  if (!shuffle_) return within;
  std::lock_guard<std::mutex> lock(cache_mutex_);
  return epoch_order(global_index / windows_)[static_cast<size_t>(within)];
}

void WindowLoader::fill_batch(int64_t first_window, int batch, int32_t* inputs, int32_t* targets) const {
  std::vector<int32_t> tokens(static_cast<size_t>(seq_len_) + 1);
  for (int b = 0; b < batch; ++b) {
    const int64_t window = window_at(first_window + b);
    shard_->read(window * seq_len_, int64_t{seq_len_} + 1, tokens.data());
    std::copy(tokens.begin(), tokens.end() - 1, inputs + static_cast<int64_t>(b) * seq_len_);
    std::copy(tokens.begin() + 1, tokens.end(), targets + static_cast<int64_t>(b) * seq_len_);
  }
}

void WindowLoader::next_batch(int batch, int32_t* inputs, int32_t* targets) {
  fill_batch(position_, batch, inputs, targets);
  position_ += batch;
}

void WindowLoader::set_position(int64_t position) {
  if (position < 0) throw DataError("shard " + shard_->path() + ": negative loader position " + std::to_string(position));
  position_ = position;
}

}  // namespace alibi
