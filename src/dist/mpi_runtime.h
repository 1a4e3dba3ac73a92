// MPI, where this build has it (ALIBI_HAVE_MPI): started only when an MPI
// launcher (mpirun, mpiexec) started the process, since MPI_Init outside one
// is slow or fails on machines without a network. Every function is safe to
// call in a build without MPI.
#pragma once

#include <cstdint>
#include <exception>
#include <vector>

namespace alibi {

bool mpi_in_build();
// MPI_Init, once; a no-op when MPI is absent or already running.
void mpi_start();
bool mpi_running();
void mpi_finish();  // MPI_Finalize, if started
// Ends every rank of the job (MPI_Abort) when MPI runs; returns otherwise.
void mpi_abort_job(int exit_code);
// Rank 0's bytes on every rank (MPI_Bcast over MPI_COMM_WORLD).
std::vector<uint8_t> mpi_broadcast_from_rank0(const std::vector<uint8_t>& bytes);

// Starts MPI for the lifetime of a scope when `wanted`.
class MpiScope {
 public:
  explicit MpiScope(bool wanted) {
    if (wanted) mpi_start();
  }
  // While an error unwinds, MPI stays up so that the handler can end the
  // whole job with mpi_abort_job (MPI_Finalize would wait for the others).
  ~MpiScope() {
    if (std::uncaught_exceptions() == 0) mpi_finish();
  }
  MpiScope(const MpiScope&) = delete;
  MpiScope& operator=(const MpiScope&) = delete;
};

}  // namespace alibi
