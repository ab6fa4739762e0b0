#include "digest.h"

#include <openssl/evp.h>

void mh_sha256(const void *bytes, size_t length, uint8_t out[32]) {
    unsigned int written = 0;
    EVP_Digest(bytes, length, out, &written, EVP_sha256(), NULL);
}

mh_sha256_ctx *mh_sha256_create(void) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    return (mh_sha256_ctx *)ctx;
}

void mh_sha256_update(mh_sha256_ctx *ctx, const void *bytes, size_t length) {
    EVP_DigestUpdate((EVP_MD_CTX *)ctx, bytes, length);
}

void mh_sha256_finish(mh_sha256_ctx *ctx, uint8_t out[32]) {
    unsigned int written = 0;
    EVP_DigestFinal_ex((EVP_MD_CTX *)ctx, out, &written);
    EVP_MD_CTX_free((EVP_MD_CTX *)ctx);
}
