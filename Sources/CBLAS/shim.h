#if __has_include(<cblas.h>)
#include <cblas.h>
#else
#error "OpenBLAS (CBLAS) headers not found. Install them: apt-get install libopenblas-dev (or run scripts/setup)"
#endif
