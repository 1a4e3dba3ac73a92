// The run folder's policy: a fresh start must not silently mix with an
// earlier run's log and checkpoints.
#pragma once

#include "config/config.h"

namespace alibi {

// Refuses a log.run_dir that holds a run (a metrics log or a checkpoint),
// naming what it found, unless `overwrite`: then deletes them.
void prepare_fresh_run_dir(const Config& config, bool overwrite);

}  // namespace alibi
