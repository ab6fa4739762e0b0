/*
 * mh_image_codecs.h: the image preprocessor plugin's C layer. It wraps Debian's codec libraries (libjpeg-turbo,
 * libpng, libwebp, giflib) behind one small API, because their error handling (longjmp, exit() by default) and their
 * memory behaviour must be contained in C and never reach Swift or the host.
 *
 * Every decoded image is 8-bit RGB, interleaved, rows top to bottom, in display orientation (EXIF applied), with any
 * alpha flattened onto white: out = (c * a + 255 * (255 - a) + 127) / 255 per channel, in the file's own (gamma)
 * space, which is what Pillow's alpha_composite onto a white background does.
 *
 * Functions are thread-safe: they keep no global state.
 */
#ifndef MH_IMAGE_CODECS_H
#define MH_IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Result codes. */
enum {
    MHI_OK = 0,
    MHI_BAD_INPUT = 1,    /* corrupt, truncated or unsupported data */
    MHI_TOO_LARGE = 2,    /* over the pixel limit: refused before any pixel memory was allocated */
    MHI_NO_MEMORY = 3
};

/* Container formats. */
enum {
    MHI_FORMAT_UNKNOWN = 0,
    MHI_FORMAT_PNG = 1,
    MHI_FORMAT_JPEG = 2,
    MHI_FORMAT_WEBP = 3,
    MHI_FORMAT_GIF = 4
};

/* One-line message of the last failure. */
typedef struct mhi_error {
    char message[256];
} mhi_error;

/* What the header says, read without decoding pixels. */
typedef struct mhi_header {
    uint32_t width;          /* as stored (before EXIF orientation) */
    uint32_t height;
    uint32_t channels;       /* stored components: 1 gray, 2 gray+alpha, 3 colour, 4 colour+alpha or CMYK */
    uint32_t format;         /* MHI_FORMAT_* */
    uint32_t orientation;    /* EXIF orientation 1..8 (1 when absent or unreadable) */
    uint32_t reserved;
} mhi_header;

/* A decoded image: width * height * 3 bytes, malloc'ed; free with mhi_image_free. */
typedef struct mhi_image {
    uint8_t *rgb;
    uint32_t width;
    uint32_t height;
} mhi_image;

/* The format name ("png", "jpeg", "webp", "gif") or "unknown". */
const char *mhi_format_name(uint32_t format);

/* Reads the header: format, stored dimensions, channels and EXIF orientation. Bounded time and memory whatever the
 * claimed dimensions (a 100000 x 100000 PNG header costs microseconds). */
int mhi_read_header(const uint8_t *data, size_t length, mhi_header *out, mhi_error *err);

/* Decodes the first frame to RGB in display orientation. Refuses (MHI_TOO_LARGE) images whose stored width * height
 * exceeds max_pixels (0 = no limit) before allocating pixel memory. min_width/min_height (display orientation, 0 =
 * none) let a JPEG decode at a reduced DCT scale M/8, the smallest whose output is at least that large; other formats
 * ignore them. */
int mhi_decode(const uint8_t *data, size_t length, uint64_t max_pixels, uint32_t min_width, uint32_t min_height,
               mhi_image *out, mhi_error *err);

/* Frees what mhi_decode allocated; tolerates NULL and an empty image. */
void mhi_image_free(mhi_image *image);

/* Separable Lanczos resize of interleaved 8-bit RGB (see lanczos.c for the exact kernel and edge handling).
 * MHI_NO_MEMORY if the scratch buffer cannot be allocated, MHI_BAD_INPUT for zero sizes. */
int mhi_resize_lanczos3(const uint8_t *src, uint32_t src_width, uint32_t src_height,
                        uint8_t *dst, uint32_t dst_width, uint32_t dst_height);

#ifdef __cplusplus
}
#endif
#endif /* MH_IMAGE_CODECS_H */
