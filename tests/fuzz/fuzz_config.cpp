// libFuzzer harness: the config parser (YAML, JSON and --set overrides).
// The first byte picks the form, the rest is the text. A ConfigError is the
// expected answer to bad input; anything else escaping (another exception,
// a crash, a sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 3) {
      case 0: alibi::parse_config(text, "fuzz.yaml"); break;
      case 1: alibi::parse_config(text, "fuzz.json"); break;
      default: alibi::parse_config("data:\n  dir: d\n", "fuzz.yaml", {text}); break;
    }
  } catch (const alibi::ConfigError&) {
  }
  return 0;
}
