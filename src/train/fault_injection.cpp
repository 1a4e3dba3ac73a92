#include "train/fault_injection.h"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

namespace alibi {

void inject_fault_if_asked(int rank, int64_t step) {
  // Read once: the process's fault plan does not change while it runs.
  static const std::string plan = [] {
    const char* v = std::getenv("ALIBI_FAULT");
    return std::string(v != nullptr ? v : "");
  }();
  if (plan.empty()) return;
  const char* spec = plan.c_str();
  char kind[16] = {};
  int fault_rank = -1;
  long long fault_step = -1;
  if (std::sscanf(spec, "%15[a-z]:%d:%lld", kind, &fault_rank, &fault_step) != 3)
    throw std::runtime_error(std::string("ALIBI_FAULT='") + spec +
                             "' is not KIND:RANK:STEP (KIND error, hang or signal)");
  if (fault_rank != rank || fault_step != step) return;
  if (std::string(kind) == "hang") {
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
  }
  if (std::string(kind) == "signal") {  // as if SIGTERM reached this rank alone, as the step starts
    std::raise(SIGTERM);
    return;
  }
  throw std::runtime_error("fault injected by ALIBI_FAULT=" + std::string(spec) + " at step " + std::to_string(step));
}

}  // namespace alibi
