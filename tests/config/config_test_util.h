// Helpers shared by the config tests.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "config/config.h"

namespace alibi::testing {

// The ConfigError message of `action`, or a test failure when it throws none.
inline std::string config_error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const ConfigError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a ConfigError";
  return "";
}

// The smallest valid config: data.dir is the one required key.
inline const std::string kMinimalYaml = "data:\n  dir: data/test\n";

inline std::string config_error_of_yaml(const std::string& yaml,
                                        const std::vector<std::string>& overrides = {}) {
  return config_error_of([&] { parse_config(yaml, "configs/x.yaml", overrides); });
}

}  // namespace alibi::testing
