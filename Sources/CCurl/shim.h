#if __has_include(<curl/curl.h>)
#include <curl/curl.h>
#else
#error "libcurl headers not found. Install them: apt-get install libcurl4-openssl-dev (or run scripts/setup)"
#endif

// curl_easy_setopt / curl_easy_getinfo are variadic, which Swift cannot call: typed wrappers.
typedef size_t (*finch_curl_data_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);
typedef int (*finch_curl_xferinfo_cb)(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);

static inline CURLcode finch_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode finch_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode finch_curl_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode finch_curl_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode finch_curl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode finch_curl_setopt_data_cb(CURL *h, CURLoption o, finch_curl_data_cb v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode finch_curl_setopt_xferinfo_cb(CURL *h, finch_curl_xferinfo_cb v) { return curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, v); }
static inline CURLcode finch_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode finch_curl_getinfo_string(CURL *h, CURLINFO i, char **v) { return curl_easy_getinfo(h, i, v); }
