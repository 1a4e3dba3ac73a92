// libFuzzer harness: the checkpoint reader and what alibi-eval builds from a
// checkpoint. The input is a checkpoint without its trailer: the harness
// appends the checksum and end marker, so the fuzzer explores the header and
// the tensor table rather than the checksum. A CheckpointError is the
// expected answer to a bad file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/hash.h"
#include "eval/eval_checkpoint.h"
#include "fuzz_input_file.h"
#include "train/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = alibi::fuzz::scratch_path("checkpoint", ".ckpt");
  const uint64_t checksum = alibi::fnv1a64(data, size);
  alibi::fuzz::write_input(path, data, size,
                           std::string(reinterpret_cast<const char*>(&checksum), sizeof checksum) + "ALIBIEND");
  try {
    (void)alibi::load_eval_checkpoint(path);
  } catch (const alibi::CheckpointError&) {
  }
  return 0;
}
