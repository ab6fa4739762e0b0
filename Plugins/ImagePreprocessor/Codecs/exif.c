/* The EXIF Orientation tag (0x0112) of IFD0, read from a TIFF block with every offset bounds-checked. A malformed
 * block means "no orientation" (1), never an error: the pixels are still fine. */
#include "codecs_internal.h"

#include <string.h>

uint32_t mhi_exif_orientation(const uint8_t *tiff, size_t n) {
    if (tiff == NULL) return 1;
    if (n >= 6 && memcmp(tiff, "Exif\0\0", 6) == 0) { tiff += 6; n -= 6; }
    if (n < 8) return 1;
    int little;
    if (tiff[0] == 'I' && tiff[1] == 'I') little = 1;
    else if (tiff[0] == 'M' && tiff[1] == 'M') little = 0;
    else return 1;
#define U16(p) (little ? (uint32_t)((p)[0] | ((p)[1] << 8)) : (uint32_t)(((p)[0] << 8) | (p)[1]))
#define U32(p) (little ? mhi_le32(p) : mhi_be32(p))
    if (U16(tiff + 2) != 42) return 1;
    uint32_t ifd = U32(tiff + 4);
    if (ifd > n - 2 || ifd < 8) return 1;
    uint32_t count = U16(tiff + ifd);
    for (uint32_t i = 0; i < count; i++) {
        size_t entry = (size_t)ifd + 2 + (size_t)i * 12;
        if (entry + 12 > n) return 1;
        const uint8_t *e = tiff + entry;
        if (U16(e) != 0x0112) continue;
        /* SHORT (3), count 1: the value sits in the first two bytes of the value field. */
        if (U16(e + 2) != 3 || U32(e + 4) != 1) return 1;
        uint32_t v = U16(e + 8);
        return (v >= 1 && v <= 8) ? v : 1;
    }
    return 1;
#undef U16
#undef U32
}
