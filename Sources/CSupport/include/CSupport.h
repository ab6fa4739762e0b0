/* CSupport: the few things Swift cannot do itself (CPUID/XGETBV, C11 atomics on shared memory, process control,
 * SHA-256 through libcrypto). */
#ifndef MODELHOST_CSUPPORT_H
#define MODELHOST_CSUPPORT_H
#include "cpu_features.h"
#include "shm_atomics.h"
#include "digest.h"
#endif
