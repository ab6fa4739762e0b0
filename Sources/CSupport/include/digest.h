#ifndef MH_DIGEST_H
#define MH_DIGEST_H

#include <stddef.h>
#include <stdint.h>

/* SHA-256 of `length` bytes into `out` (32 bytes), through OpenSSL's libcrypto. Used to key caches by content, where
 * a cheaper hash would let a crafted input collide with another client's entry. */
void mh_sha256(const void *bytes, size_t length, uint8_t out[32]);

/* Incremental SHA-256 (a download hashed as it arrives): create, update any number of times, finish (which frees
 * the context). NULL from create when libcrypto has no memory. */
typedef struct mh_sha256_ctx mh_sha256_ctx;
mh_sha256_ctx *mh_sha256_create(void);
void mh_sha256_update(mh_sha256_ctx *ctx, const void *bytes, size_t length);
void mh_sha256_finish(mh_sha256_ctx *ctx, uint8_t out[32]);

#endif
