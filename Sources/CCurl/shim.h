#if __has_include(<curl/curl.h>)
#include <curl/curl.h>
#else
#error "libcurl headers not found. Install them: apt-get install libcurl4-openssl-dev (or run scripts/setup)"
#endif
