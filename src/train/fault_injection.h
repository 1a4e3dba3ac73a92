// ALIBI_FAULT=error:RANK:STEP or hang:RANK:STEP makes that rank fail (throw)
// or stop answering at that step: how the tests check that a failed rank
// brings the whole job down with its message (docs/distributed.md).
#pragma once

#include <cstdint>

namespace alibi {

void inject_fault_if_asked(int rank, int64_t step);

}  // namespace alibi
