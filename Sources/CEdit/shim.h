#if __has_include(<histedit.h>)
#include <stdio.h>
#include <histedit.h>
#else
#error "libedit headers not found. Install them: apt-get install libedit-dev (or run scripts/setup)"
#endif
