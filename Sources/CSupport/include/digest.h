#ifndef MH_DIGEST_H
#define MH_DIGEST_H

#include <stddef.h>
#include <stdint.h>

/* SHA-256 of `length` bytes into `out` (32 bytes), through OpenSSL's libcrypto. Used to key caches by content, where
 * a cheaper hash would let a crafted input collide with another client's entry. */
void mh_sha256(const void *bytes, size_t length, uint8_t out[32]);

#endif
