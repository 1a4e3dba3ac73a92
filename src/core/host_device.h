// Functions marked ALIBI_HOST_DEVICE compile for the host and, under nvcc,
// for the device too: one definition of arithmetic both sides must agree on.
#pragma once

#if defined(__CUDACC__)
#define ALIBI_HOST_DEVICE __host__ __device__
#else
#define ALIBI_HOST_DEVICE
#endif
