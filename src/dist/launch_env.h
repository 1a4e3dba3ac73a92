// Who am I in a multi-process run? Reads the rank, world size and per-node
// (local) rank that a launcher left in the environment: our own ALIBI_*
// variables (scripts/launch_local.sh, or set by hand), OpenMPI's mpirun,
// MPICH/Hydra's mpiexec, or Slurm's srun. Nothing here talks to MPI or
// NCCL; the communicator is built from this information.
#pragma once

#include <functional>
#include <string>

namespace alibi {

struct LaunchInfo {
  int rank = 0, world_size = 1, local_rank = 0, local_world_size = 1;
  std::string launcher = "single";  // "single", "alibi" (ALIBI_* vars), "openmpi", "mpich", "slurm"
  std::string job_id;               // the launcher's job id where it gives one, else ""
  bool distributed() const { return world_size > 1; }
  std::string label() const;  // "rank 3/8" (for messages)
};

// getenv-like: the value of a variable, or nullptr when it is not set.
// Injectable so tests can describe a launcher with a plain map.
using EnvLookup = std::function<const char*(const char*)>;

// The first launcher whose variables are present, in this order:
//   1. ALIBI_RANK, ALIBI_WORLD_SIZE [, ALIBI_LOCAL_RANK, ALIBI_LOCAL_WORLD_SIZE]
//      (the local pair defaults to rank/world: every rank on one node);
//      job id from ALIBI_JOB_ID
//   2. OpenMPI: OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK,LOCAL_SIZE}; job id
//      OMPI_MCA_ess_base_jobid
//   3. MPICH/Hydra (and Intel MPI): PMI_RANK, PMI_SIZE, MPI_LOCALRANKID,
//      MPI_LOCALNRANKS (or PMI_LOCAL_RANK, PMI_LOCAL_SIZE)
//   4. Slurm srun: SLURM_PROCID, SLURM_STEP_NUM_TASKS, SLURM_LOCALID,
//      SLURM_STEP_TASKS_PER_NODE (+ SLURM_NODEID); job id
//      SLURM_JOB_ID.SLURM_STEP_ID
//   5. otherwise one process ("single").
// An empty value counts as unset. A bad value (not an integer, rank >=
// world, world < 1, half of a required pair) throws std::runtime_error
// naming the variable and its value.
LaunchInfo detect_launch(const EnvLookup& env);
LaunchInfo detect_launch();  // from the process environment

// std::getenv as an EnvLookup.
EnvLookup process_env();

}  // namespace alibi
