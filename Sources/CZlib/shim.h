#ifndef SLUICE_CZLIB_SHIM_H
#define SLUICE_CZLIB_SHIM_H
#include <zlib.h>
/* inflateInit2 is a macro; Swift cannot call it. */
static inline int sluice_inflate_init_gzip(z_stream *s) { return inflateInit2(s, 15 + 32); }
static inline int sluice_deflate_init_gzip(z_stream *s, int level) {
    return deflateInit2(s, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
#endif
