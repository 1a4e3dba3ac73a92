#include "backend/backend.h"

namespace alibi {

double Backend::sum_of_squares(const Tensor& t) {
  std::unique_ptr<Buffer> scalar = allocate(sizeof(float));
  const Tensor out(scalar->data(), {1}, DType::F32, device());
  sum_of_squares(out, t);
  float host = 0.f;
  download(&host, out);
  return host;
}

}  // namespace alibi
