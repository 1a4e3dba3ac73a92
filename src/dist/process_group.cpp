#include "dist/process_group.h"

#include <chrono>

#include "backend/select.h"
#include "dist/mpi_runtime.h"
#include "dist/rendezvous.h"

namespace alibi {

bool process_group_uses_mpi(const LaunchInfo& launch, const DistConfig& dist) {
  if (!mpi_in_build()) return false;
  if (rendezvous_is_mpi(dist.rendezvous)) return true;
  const bool mpi_launched = launch.launcher == "openmpi" || launch.launcher == "mpich";
  return mpi_launched && dist.rendezvous == "auto";
}

std::unique_ptr<Communicator> join_process_group(Backend& backend, const LaunchInfo& launch, const DistConfig& dist) {
  if (rendezvous_is_mpi(dist.rendezvous) && !mpi_running())
    throw ConfigError("dist.rendezvous = mpi, but MPI is not running (" +
                      std::string(mpi_in_build() ? "launch with mpirun" : "this build has no MPI") + ")");
  CommunicatorSetup setup;
  setup.rank = launch.rank;
  setup.world_size = launch.world_size;
  setup.timeout = std::chrono::milliseconds(static_cast<int64_t>(dist.timeout_s * 1000.0));
  setup.label = launch.label();
  if (launch.world_size == 1) {
    setup.share_from_rank0 = [](const std::vector<uint8_t>& bytes) { return bytes; };
  } else if (mpi_running()) {
    setup.share_from_rank0 = [](const std::vector<uint8_t>& bytes) { return mpi_broadcast_from_rank0(bytes); };
  } else {
    const std::string address = resolve_rendezvous_address(dist.rendezvous, launch, process_env());
    setup.share_from_rank0 = [launch, address, timeout = setup.timeout](const std::vector<uint8_t>& bytes) {
      return share_from_rank0(launch, address, bytes, timeout);
    };
  }
  return make_communicator(backend, setup);
}

}  // namespace alibi
