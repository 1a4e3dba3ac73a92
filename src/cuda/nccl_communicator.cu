#include "cuda/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstring>
#include <exception>
#include <stdexcept>

#include "cuda/cuda_check.cuh"
#include "dist/watchdog.h"

namespace alibi {
namespace {

void check_nccl(ncclResult_t result, const char* op, ncclComm_t comm = nullptr) {
  if (result == ncclSuccess) return;
  std::string text = std::string("nccl: ") + op + ": " + ncclGetErrorString(result);
  if (comm) {
    const char* last = ncclGetLastError(comm);
    if (last && *last) text += std::string(" (") + last + ")";
  }
  throw std::runtime_error(text);
}

ncclDataType_t nccl_type(const Tensor& t) {
  switch (t.dtype) {
    case DType::F32: return ncclFloat32;
    case DType::BF16: return ncclBfloat16;
    default: throw std::logic_error("NCCL collectives take f32 or bf16 tensors");
  }
}

class NcclCommunicator final : public Communicator {
 public:
  explicit NcclCommunicator(const NcclSetup& setup)
      : rank_(setup.rank), world_(setup.world_size), compute_(static_cast<cudaStream_t>(setup.stream)) {
    // Until the communicator exists, a blocked init (a rank that never
    // arrives) is caught by this first watchdog.
    {
      Watchdog init_dog(setup.timeout, setup.label, Watchdog::exit_process());
      auto guard = init_dog.guard("joining the NCCL communicator of " + std::to_string(world_) + " ranks");
      ncclUniqueId id{};
      std::vector<uint8_t> bytes(sizeof id);
      if (rank_ == 0) {
        check_nccl(ncclGetUniqueId(&id), "get unique id");
        std::memcpy(bytes.data(), &id, sizeof id);
      }
      bytes = setup.share_from_rank0(bytes);
      if (bytes.size() != sizeof id) throw std::runtime_error("rendezvous returned an NCCL id of the wrong size");
      std::memcpy(&id, bytes.data(), sizeof id);
      check_nccl(ncclCommInitRank(&comm_, world_, id, rank_), "init rank");
    }
    int low = 0, high = 0;
    cuda::check_cuda(cudaDeviceGetStreamPriorityRange(&low, &high), "stream priorities");
    // High priority: a collective's kernel should not wait behind the backward's.
    cuda::check_cuda(cudaStreamCreateWithPriority(&comm_stream_, cudaStreamNonBlocking, high), "comm stream");
    cuda::check_cuda(cudaMalloc(&host_sums_device_, kMaxHostValues * sizeof(double)), "comm scratch");
    ncclComm_t comm = comm_;
    watchdog_ = std::make_unique<Watchdog>(
        setup.timeout, setup.label, Watchdog::exit_process([comm] { ncclCommAbort(comm); }),
        [comm]() -> std::string {
          ncclResult_t async = ncclSuccess;
          if (ncclCommGetAsyncError(comm, &async) != ncclSuccess || async == ncclSuccess || async == ncclInProgress)
            return "";
          return std::string(ncclGetErrorString(async));
        });
  }

  ~NcclCommunicator() override {
    watchdog_.reset();
    cudaStreamSynchronize(comm_stream_);
    cudaFree(host_sums_device_);
    cudaStreamDestroy(comm_stream_);
    // While an error unwinds, peers may be stuck; abort instead of a clean destroy.
    if (std::uncaught_exceptions() > 0) ncclCommAbort(comm_);
    else ncclCommDestroy(comm_);
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  std::string name() const override { return "nccl"; }

  void all_reduce_sum(const Tensor& t, const std::string& what) override {
    after_compute();
    check_nccl(ncclAllReduce(t.data, t.data, t.numel(), nccl_type(t), ncclSum, comm_, comm_stream_), "all-reduce", comm_);
    watch(what);
  }
  void reduce_scatter_sum(const Tensor& t, const std::string& what) override {
    const size_t n = slice(t);
    after_compute();
    void* mine = static_cast<char*>(t.data) + rank_ * n * dtype_size(t.dtype);
    check_nccl(ncclReduceScatter(t.data, mine, n, nccl_type(t), ncclSum, comm_, comm_stream_), "reduce-scatter", comm_);
    watch(what);
  }
  void all_gather(const Tensor& t, const std::string& what) override {
    const size_t n = slice(t);
    after_compute();
    void* mine = static_cast<char*>(t.data) + rank_ * n * dtype_size(t.dtype);
    check_nccl(ncclAllGather(mine, t.data, n, nccl_type(t), comm_, comm_stream_), "all-gather", comm_);
    watch(what);
  }
  void broadcast(const Tensor& t, int root, const std::string& what) override {
    after_compute();
    check_nccl(ncclBroadcast(t.data, t.data, t.numel(), nccl_type(t), root, comm_, comm_stream_), "broadcast", comm_);
    watch(what);
  }
  void join() override {
    cudaEvent_t done = record(comm_stream_);
    cuda::check_cuda(cudaStreamWaitEvent(compute_, done, 0), "join the comm stream");
    cudaEventDestroy(done);  // destruction is deferred until the event completes
  }
  std::vector<double> sum_host(const std::vector<double>& values, const std::string& what) override {
    if (values.size() > kMaxHostValues) throw std::logic_error("sum_host: too many values");
    std::vector<double> sums(values.size());
    const size_t bytes = values.size() * sizeof(double);
    cuda::check_cuda(cudaMemcpyAsync(host_sums_device_, values.data(), bytes, cudaMemcpyHostToDevice, comm_stream_), "sum_host upload");
    check_nccl(ncclAllReduce(host_sums_device_, host_sums_device_, values.size(), ncclFloat64, ncclSum, comm_, comm_stream_),
               "all-reduce (host values)", comm_);
    cuda::check_cuda(cudaMemcpyAsync(sums.data(), host_sums_device_, bytes, cudaMemcpyDeviceToHost, comm_stream_), "sum_host download");
    watch(what);
    cuda::check_cuda(cudaStreamSynchronize(comm_stream_), "sum_host (sync)");
    return sums;
  }

 private:
  static constexpr size_t kMaxHostValues = 64;

  static cudaEvent_t record(cudaStream_t stream) {
    cudaEvent_t event;
    cuda::check_cuda(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "event create");
    cuda::check_cuda(cudaEventRecord(event, stream), "event record");
    return event;
  }
  // The collective reads what the backend's stream has written so far.
  void after_compute() {
    cudaEvent_t ready = record(compute_);
    cuda::check_cuda(cudaStreamWaitEvent(comm_stream_, ready, 0), "comm stream waits for compute");
    cudaEventDestroy(ready);
  }
  // The watchdog polls the collective's completion; the event is freed once seen done.
  void watch(const std::string& what) {
    cudaEvent_t done = record(comm_stream_);
    int device = 0;
    cudaGetDevice(&device);
    watchdog_->watch(what, [done, device]() {
      cudaSetDevice(device);  // the watchdog's thread starts on device 0
      if (cudaEventQuery(done) == cudaErrorNotReady) return false;
      cudaEventDestroy(done);
      return true;
    });
  }
  size_t slice(const Tensor& t) const {
    if (t.numel() % world_ != 0) throw std::logic_error("sharded collective over a tensor not divisible by the world size");
    return static_cast<size_t>(t.numel() / world_);
  }

  int rank_, world_;
  cudaStream_t compute_;
  cudaStream_t comm_stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
  double* host_sums_device_ = nullptr;
  std::unique_ptr<Watchdog> watchdog_;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(const NcclSetup& setup) {
  return std::make_unique<NcclCommunicator>(setup);
}

}  // namespace alibi
