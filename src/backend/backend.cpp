#include "backend/backend.h"

namespace alibi {

void HostCopy::check_fits(const Tensor& src, size_t bytes) {
  if (src.nbytes() > bytes)
    throw std::invalid_argument("host copy: " + std::to_string(src.nbytes()) + " bytes do not fit its " +
                                std::to_string(bytes));
}

namespace {

class DownloadingHostCopy final : public HostCopy {
 public:
  DownloadingHostCopy(Backend& backend, size_t bytes) : backend_(backend), host_(bytes) {}
  void start(const Tensor& src) override {
    check_fits(src, host_.size());
    backend_.download(host_.data(), src);
  }
  const void* wait() override { return host_.data(); }

 private:
  Backend& backend_;
  std::vector<char> host_;
};

}  // namespace

std::unique_ptr<HostCopy> Backend::make_host_copy(size_t bytes) {
  return std::make_unique<DownloadingHostCopy>(*this, bytes);
}

double Backend::sum_of_squares(const Tensor& t) {
  std::unique_ptr<Buffer> scalar = allocate(sizeof(float));
  const Tensor out(scalar->data(), {1}, DType::F32, device());
  sum_of_squares(out, t);
  float host = 0.f;
  download(&host, out);
  return host;
}

}  // namespace alibi
