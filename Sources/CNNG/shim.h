#ifndef SLUICE_CNNG_SHIM_H
#define SLUICE_CNNG_SHIM_H
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>
#include <nng/supplemental/http/http.h>

/* NNG_FLAG_NONBLOCK imports as unsigned; nng_dial takes an int. */
static inline int sluice_nng_flag_nonblock(void) { return NNG_FLAG_NONBLOCK; }
#endif
