#include "dist/mpi_runtime.h"

#include <stdexcept>

#ifdef ALIBI_HAVE_MPI
#include <mpi.h>
#endif

namespace alibi {

#ifdef ALIBI_HAVE_MPI

bool mpi_in_build() { return true; }

bool mpi_running() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

void mpi_start() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return;
  // The watchdog thread never calls MPI; only the main thread does.
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
}

void mpi_finish() {
  if (mpi_running()) MPI_Finalize();
}

void mpi_abort_job(int exit_code) {
  if (mpi_running()) MPI_Abort(MPI_COMM_WORLD, exit_code);
}

std::vector<uint8_t> mpi_broadcast_from_rank0(const std::vector<uint8_t>& bytes) {
  if (!mpi_running()) throw std::logic_error("mpi_broadcast_from_rank0 without MPI running");
  uint64_t size = bytes.size();
  MPI_Bcast(&size, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  std::vector<uint8_t> result(bytes);
  result.resize(size);
  MPI_Bcast(result.data(), static_cast<int>(size), MPI_BYTE, 0, MPI_COMM_WORLD);
  return result;
}

#else

bool mpi_in_build() { return false; }
bool mpi_running() { return false; }
void mpi_start() {}
void mpi_finish() {}
void mpi_abort_job(int) {}
std::vector<uint8_t> mpi_broadcast_from_rank0(const std::vector<uint8_t>&) {
  throw std::runtime_error("dist.rendezvous = mpi, but this build has no MPI (install libopenmpi-dev and rebuild)");
}

#endif

}  // namespace alibi
