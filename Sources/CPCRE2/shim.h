// PCRE2 with 8-bit code units (UTF-8 strings); the _8 functions are the ones Swift calls.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
