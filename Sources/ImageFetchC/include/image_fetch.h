#ifndef MH_IMAGE_FETCH_H
#define MH_IMAGE_FETCH_H

#include <stddef.h>
#include <stdint.h>

/* One HTTP(S) GET of an image through libcurl, for the API's remote image URLs. The caller has already resolved the
 * host and checked every address; `pinned_address` is the one to connect to (libcurl's CURLOPT_RESOLVE), so a second
 * DNS answer cannot move the request elsewhere. No redirects are followed, no proxy is used, only http and https. */

enum mh_fetch_outcome {
    MH_FETCH_OK = 0,
    MH_FETCH_TOO_LARGE = 1,   /* the body exceeds max_bytes (declared or received) */
    MH_FETCH_TIMEOUT = 2,
    MH_FETCH_REDIRECT = 3,    /* a 3xx answer: redirects are refused, not followed */
    MH_FETCH_HTTP_ERROR = 4,  /* any other non-200 status */
    MH_FETCH_FAILED = 5       /* connection, TLS or protocol failure (message says which) */
};

typedef struct mh_fetch_result {
    int outcome;              /* enum mh_fetch_outcome */
    long http_status;
    uint8_t *data;            /* malloc'ed body (MH_FETCH_OK), freed by mh_fetch_free */
    size_t length;
    char message[256];
} mh_fetch_result;

/* `url`: http:// or https://; `host`, `port`: the URL's; `pinned_address`: numeric IPv4 or IPv6 (no brackets).
 * Blocking; call it off any event loop. */
void mh_fetch(const char *url, const char *host, int port, const char *pinned_address, size_t max_bytes,
              long timeout_ms, mh_fetch_result *out);

void mh_fetch_free(mh_fetch_result *result);

#endif
