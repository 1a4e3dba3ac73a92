// A model shape that BLOOM holds (ALiBi, embedding LayerNorm, a 4 x d_model
// MLP) with 3 heads, not a power of two; the export tests' common model.
#pragma once

#include "model/params.h"

namespace alibi::testing {

inline ModelShape exportable_shape() {
  ModelShape s;
  s.position = PositionMethod::Alibi;
  s.embed_layernorm = true;
  s.n_layer = 2, s.d_model = 12, s.n_head = 3, s.d_ff = 48, s.vocab = 23;
  s.layernorm_eps = 1e-6f;
  return s;
}

}  // namespace alibi::testing
