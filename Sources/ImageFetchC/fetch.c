#include "image_fetch.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t global_init = PTHREAD_ONCE_INIT;
static void init_curl(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

struct sink {
    uint8_t *data;
    size_t length;
    size_t capacity;
    size_t limit;
    int too_large;
};

/* Grows the buffer geometrically; refuses (ending the transfer) once the body passes the limit. */
static size_t write_body(char *chunk, size_t size, size_t count, void *user) {
    struct sink *s = user;
    size_t n = size * count;
    if (s->length + n > s->limit) {
        s->too_large = 1;
        return 0;
    }
    if (s->length + n > s->capacity) {
        size_t capacity = s->capacity ? s->capacity : 65536;
        while (capacity < s->length + n) capacity *= 2;
        if (capacity > s->limit) capacity = s->limit;
        uint8_t *grown = realloc(s->data, capacity);
        if (!grown) return 0;
        s->data = grown;
        s->capacity = capacity;
    }
    memcpy(s->data + s->length, chunk, n);
    s->length += n;
    return n;
}

void mh_fetch(const char *url, const char *host, int port, const char *pinned_address, size_t max_bytes,
              long timeout_ms, mh_fetch_result *out) {
    memset(out, 0, sizeof *out);
    pthread_once(&global_init, init_curl);
    CURL *curl = curl_easy_init();
    if (!curl) {
        out->outcome = MH_FETCH_FAILED;
        snprintf(out->message, sizeof out->message, "libcurl could not start a transfer");
        return;
    }
    char resolve[320];
    int ipv6 = strchr(pinned_address, ':') != NULL;
    snprintf(resolve, sizeof resolve, ipv6 ? "%s:%d:[%s]" : "%s:%d:%s", host, port, pinned_address);
    struct curl_slist *pins = curl_slist_append(NULL, resolve);
    struct sink body = {.limit = max_bytes};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_RESOLVE, pins);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000L);
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "ModelHost image fetch");
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->http_status);
    if (body.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        out->outcome = MH_FETCH_TOO_LARGE;
        snprintf(out->message, sizeof out->message, "the image is larger than %zu bytes", max_bytes);
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        out->outcome = MH_FETCH_TIMEOUT;
        snprintf(out->message, sizeof out->message, "no complete answer within %ld ms", timeout_ms);
    } else if (rc != CURLE_OK) {
        out->outcome = MH_FETCH_FAILED;
        snprintf(out->message, sizeof out->message, "%s", curl_easy_strerror(rc));
    } else if (out->http_status >= 300 && out->http_status < 400) {
        out->outcome = MH_FETCH_REDIRECT;
        snprintf(out->message, sizeof out->message, "the server answered %ld (a redirect); redirects are not followed",
                 out->http_status);
    } else if (out->http_status != 200) {
        out->outcome = MH_FETCH_HTTP_ERROR;
        snprintf(out->message, sizeof out->message, "the server answered HTTP %ld", out->http_status);
    } else {
        out->outcome = MH_FETCH_OK;
        out->data = body.data;
        out->length = body.length;
        body.data = NULL;
    }
    free(body.data);
    curl_slist_free_all(pins);
    curl_easy_cleanup(curl);
}

void mh_fetch_free(mh_fetch_result *result) {
    if (!result) return;
    free(result->data);
    result->data = NULL;
    result->length = 0;
}
