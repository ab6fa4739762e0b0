#include "digest.h"

#include <openssl/evp.h>

void mh_sha256(const void *bytes, size_t length, uint8_t out[32]) {
    unsigned int written = 0;
    EVP_Digest(bytes, length, out, &written, EVP_sha256(), NULL);
}
