#ifndef SLUICE_CNNG_SHIM_H
#define SLUICE_CNNG_SHIM_H
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>

/* NNG_FLAG_ALLOC and friends import as unsigned; these keep call sites tidy. */
static inline int sluice_nng_flag_alloc(void) { return NNG_FLAG_ALLOC; }
static inline int sluice_nng_flag_nonblock(void) { return NNG_FLAG_NONBLOCK; }
#endif
