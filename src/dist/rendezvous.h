// Rank 0 hands a small byte blob (the 128-byte NCCL unique id) to every
// other rank before the communicator exists. Two ways, both without MPI:
//
//   tcp://HOST:PORT  rank 0 listens on PORT; the others connect to HOST:PORT,
//                    say their rank, and get the blob back (length-prefixed
//                    frames). Clients retry until the time-out, so rank 0 may
//                    start later than they do.
//   file:PATH        PATH is a folder every rank sees (NFS, Lustre, or /tmp on
//                    one node). Rank 0 writes the blob into a file there
//                    atomically; the others poll for it and leave an
//                    acknowledgement file, so rank 0 knows who arrived.
//
// With MPI ("mpi") the communicator code broadcasts the id itself; nothing
// here is used then.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "dist/launch_env.h"

namespace alibi {

// Returns the blob on every rank (rank 0 gets `root_blob` back; the others'
// `root_blob` is ignored). Rank 0 returns once every other rank has got the
// blob. Throws std::runtime_error on time-out: on rank 0 naming the ranks
// that never arrived, on the others saying that rank 0 could not be reached
// (or its file never appeared) within the time-out, with the address. A
// one-process run returns `root_blob` at once.
std::vector<uint8_t> share_from_rank0(const LaunchInfo& launch, const std::string& address,
                                      const std::vector<uint8_t>& root_blob, std::chrono::milliseconds timeout);

// The address to use for `configured`: itself when it is a tcp:// or file:
// address; for "auto": env ALIBI_RENDEZVOUS if set, else
// tcp://MASTER_ADDR:MASTER_PORT if both are set, else, when every rank is
// on one node, tcp://127.0.0.1:29517; else throws saying what to set.
std::string resolve_rendezvous_address(const std::string& configured, const LaunchInfo& launch, const EnvLookup& env);

// True for "mpi": the id travels by MPI_Bcast, not through this file.
bool rendezvous_is_mpi(const std::string& configured);

// The port "auto" uses on one node.
inline constexpr int kDefaultRendezvousPort = 29517;

}  // namespace alibi
