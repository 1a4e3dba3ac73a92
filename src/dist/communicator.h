// Collectives over the ranks of a data-parallel job: the one interface the
// trainer sees. NCCL implements it for the CUDA backend, MPI for the CPU one.
//
// Ordering: a collective runs after all work already issued to the backend
// and before any work issued after join(); between the two the backend may
// go on computing (on CUDA the collectives run on their own stream, which is
// how the gradient all-reduce overlaps the backward pass). Device tensors
// are f32 or bf16 and contiguous; every rank calls the same collectives in
// the same order.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"

namespace alibi {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual std::string name() const = 0;  // "nccl", "mpi"

  // t = sum over ranks of t, in place. `what` names it in watchdog messages.
  virtual void all_reduce_sum(const Tensor& t, const std::string& what) = 0;
  // In place over `t` of numel world_size * n: this rank's slice
  // t[rank*n, (rank+1)*n) becomes the sum over ranks of that slice; the rest
  // of t is left undefined.
  virtual void reduce_scatter_sum(const Tensor& t, const std::string& what) = 0;
  // In place over `t` of numel world_size * n: every rank's slice
  // t[r*n, (r+1)*n) is copied to all ranks.
  virtual void all_gather(const Tensor& t, const std::string& what) = 0;
  // t = rank `root`'s t.
  virtual void broadcast(const Tensor& t, int root, const std::string& what) = 0;
  // The backend's work issued after this waits for every collective so far.
  virtual void join() = 0;
  // Element-wise sums of host values over ranks (losses, token counts, norm
  // parts); blocking, in fp64.
  virtual std::vector<double> sum_host(const std::vector<double>& values, const std::string& what) = 0;
};

}  // namespace alibi
