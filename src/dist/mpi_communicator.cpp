#include "dist/mpi_communicator.h"

#include <cstring>
#include <stdexcept>

#include "dist/mpi_runtime.h"
#include "dist/watchdog.h"

#ifdef ALIBI_HAVE_MPI
#include <mpi.h>
#endif

namespace alibi {

#ifdef ALIBI_HAVE_MPI
namespace {

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(std::chrono::milliseconds timeout, const std::string& label)
      : watchdog_(timeout, label, Watchdog::exit_process([] { mpi_abort_job(1); })) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &world_);
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  std::string name() const override { return "mpi"; }

  void all_reduce_sum(const Tensor& t, const std::string& what) override {
    auto guard = watchdog_.guard(what);
    MPI_Allreduce(MPI_IN_PLACE, t.data, count(t), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  }
  void reduce_scatter_sum(const Tensor& t, const std::string& what) override {
    auto guard = watchdog_.guard(what);
    const int n = slice(t);
    // In place, MPI leaves this rank's sum at the front of the buffer.
    MPI_Reduce_scatter_block(MPI_IN_PLACE, t.data, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    float* data = t.f32();
    if (rank_ > 0) std::memmove(data + int64_t{rank_} * n, data, sizeof(float) * n);
  }
  void all_gather(const Tensor& t, const std::string& what) override {
    auto guard = watchdog_.guard(what);
    const int n = slice(t);
    MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, t.data, n, MPI_FLOAT, MPI_COMM_WORLD);
  }
  void broadcast(const Tensor& t, int root, const std::string& what) override {
    auto guard = watchdog_.guard(what);
    MPI_Bcast(t.data, count(t), MPI_FLOAT, root, MPI_COMM_WORLD);
  }
  void join() override {}
  std::vector<double> sum_host(const std::vector<double>& values, const std::string& what) override {
    auto guard = watchdog_.guard(what);
    std::vector<double> sums(values);
    MPI_Allreduce(MPI_IN_PLACE, sums.data(), static_cast<int>(sums.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return sums;
  }

 private:
  static int count(const Tensor& t) {
    if (t.dtype != DType::F32) throw std::logic_error("the MPI communicator reduces f32 tensors only");
    if (t.numel() > INT32_MAX) throw std::runtime_error("MPI collective over more than 2^31 elements");
    return static_cast<int>(t.numel());
  }
  int slice(const Tensor& t) const {
    if (t.numel() % world_ != 0) throw std::logic_error("sharded collective over a tensor not divisible by the world size");
    count(t);
    return static_cast<int>(t.numel() / world_);
  }

  int rank_ = 0, world_ = 1;
  Watchdog watchdog_;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(std::chrono::milliseconds timeout, const std::string& label) {
  if (!mpi_running()) throw std::runtime_error("the MPI communicator needs MPI running (launch with mpirun)");
  return std::make_unique<MpiCommunicator>(timeout, label);
}

#else

std::unique_ptr<Communicator> make_mpi_communicator(std::chrono::milliseconds, const std::string&) {
  throw std::runtime_error(
      "data-parallel training on the CPU runs over MPI, and this build has none (install libopenmpi-dev "
      "and rebuild, then launch with mpirun)");
}

#endif

}  // namespace alibi
