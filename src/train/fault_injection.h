// ALIBI_FAULT=error:RANK:STEP, hang:RANK:STEP or signal:RANK:STEP makes that
// rank fail (throw), stop answering, or receive SIGTERM as that step starts:
// how the tests check that a failed rank brings the whole job down with its
// message (docs/distributed.md) and that a signal one rank gets stops all of
// them at the same micro-batch.
#pragma once

#include <cstdint>

namespace alibi {

void inject_fault_if_asked(int rank, int64_t step);

}  // namespace alibi
