// The communicator of a job of one rank: every collective is the identity.
// It lets the data-parallel code path run (and be tested and timed) in one
// process without MPI or NCCL.
#pragma once

#include <memory>

#include "dist/communicator.h"

namespace alibi {

std::unique_ptr<Communicator> make_local_communicator();

}  // namespace alibi
