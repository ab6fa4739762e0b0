/* Format sniffing, the pixel limit, dispatch to the per-format decoders, and EXIF orientation. */
#include "codecs_internal.h"

#include <string.h>

const char *mhi_format_name(uint32_t format) {
    switch (format) {
    case MHI_FORMAT_PNG: return "png";
    case MHI_FORMAT_JPEG: return "jpeg";
    case MHI_FORMAT_WEBP: return "webp";
    case MHI_FORMAT_GIF: return "gif";
    default: return "unknown";
    }
}

/* Magic bytes only: the container decides which library may look at the data at all. */
static uint32_t sniff(const uint8_t *d, size_t n) {
    static const uint8_t png[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (n >= 8 && memcmp(d, png, 8) == 0) return MHI_FORMAT_PNG;
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return MHI_FORMAT_JPEG;
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) return MHI_FORMAT_WEBP;
    if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0)) return MHI_FORMAT_GIF;
    return MHI_FORMAT_UNKNOWN;
}

int mhi_read_header(const uint8_t *data, size_t length, mhi_header *out, mhi_error *err) {
    if (data == NULL || length == 0 || out == NULL) return mhi_fail(err, MHI_BAD_INPUT, "the image is empty");
    memset(out, 0, sizeof *out);
    out->orientation = 1;
    out->format = sniff(data, length);
    int rc;
    switch (out->format) {
    case MHI_FORMAT_PNG: rc = mhi_png_header(data, length, out, err); break;
    case MHI_FORMAT_JPEG: rc = mhi_jpeg_header(data, length, out, err); break;
    case MHI_FORMAT_WEBP: rc = mhi_webp_header(data, length, out, err); break;
    case MHI_FORMAT_GIF: rc = mhi_gif_header(data, length, out, err); break;
    default:
        return mhi_fail(err, MHI_BAD_INPUT, "unsupported image format: send PNG, JPEG, WebP or GIF");
    }
    if (rc != MHI_OK) return rc;
    if (out->width == 0 || out->height == 0)
        return mhi_fail(err, MHI_BAD_INPUT, "%s header gives an empty image (%ux%u)", mhi_format_name(out->format),
                        out->width, out->height);
    if (out->orientation < 1 || out->orientation > 8) out->orientation = 1;
    return MHI_OK;
}

int mhi_decode(const uint8_t *data, size_t length, uint64_t max_pixels, uint32_t min_width, uint32_t min_height,
               mhi_image *out, mhi_error *err) {
    if (out == NULL) return mhi_fail(err, MHI_BAD_INPUT, "decode: out must not be NULL");
    memset(out, 0, sizeof *out);
    mhi_header h;
    int rc = mhi_read_header(data, length, &h, err);
    if (rc != MHI_OK) return rc;
    uint64_t pixels = (uint64_t)h.width * h.height;
    if (max_pixels != 0 && pixels > max_pixels)
        return mhi_fail(err, MHI_TOO_LARGE, "image of %ux%u (%.1f megapixels) exceeds the limit of %.1f megapixels",
                        h.width, h.height, (double)pixels / 1e6, (double)max_pixels / 1e6);
    /* The hint is in display orientation; orientations 5..8 swap the stored axes. */
    if (h.orientation >= 5) { uint32_t t = min_width; min_width = min_height; min_height = t; }
    switch (h.format) {
    case MHI_FORMAT_PNG: rc = mhi_png_decode(data, length, out, err); break;
    case MHI_FORMAT_JPEG: rc = mhi_jpeg_decode(data, length, min_width, min_height, out, err); break;
    case MHI_FORMAT_WEBP: rc = mhi_webp_decode(data, length, out, err); break;
    default: rc = mhi_gif_decode(data, length, max_pixels, out, err); break;
    }
    if (rc != MHI_OK) { mhi_image_free(out); return rc; }
    rc = mhi_apply_orientation(out, h.orientation, err);
    if (rc != MHI_OK) mhi_image_free(out);
    return rc;
}

void mhi_image_free(mhi_image *image) {
    if (image == NULL) return;
    free(image->rgb);
    image->rgb = NULL;
    image->width = image->height = 0;
}

/* Maps every display pixel (x, y) to its stored pixel, for the eight EXIF orientations:
 * 2 mirror horizontally, 3 rotate 180, 4 mirror vertically, 5 transpose, 6 rotate 90 clockwise, 7 transverse,
 * 8 rotate 90 counter-clockwise (the same transforms as Pillow's ImageOps.exif_transpose). */
int mhi_apply_orientation(mhi_image *image, uint32_t orientation, mhi_error *err) {
    if (orientation <= 1 || orientation > 8) return MHI_OK;
    const uint32_t w = image->width, h = image->height;
    const int swap = orientation >= 5;
    const uint32_t ow = swap ? h : w, oh = swap ? w : h;
    uint8_t *dst = mhi_alloc_pixels(ow, oh, 3);
    if (dst == NULL) return mhi_fail(err, MHI_NO_MEMORY, "out of memory orienting a %ux%u image", w, h);
    const uint8_t *src = image->rgb;
    for (uint32_t y = 0; y < oh; y++) {
        uint8_t *row = dst + (size_t)y * ow * 3;
        for (uint32_t x = 0; x < ow; x++) {
            uint32_t sx, sy;
            switch (orientation) {
            case 2: sx = w - 1 - x; sy = y; break;
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;
            case 4: sx = x; sy = h - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = h - 1 - x; break;
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;
            default: sx = w - 1 - y; sy = x; break; /* 8 */
            }
            const uint8_t *p = src + ((size_t)sy * w + sx) * 3;
            row[x * 3] = p[0];
            row[x * 3 + 1] = p[1];
            row[x * 3 + 2] = p[2];
        }
    }
    free(image->rgb);
    image->rgb = dst;
    image->width = ow;
    image->height = oh;
    return MHI_OK;
}
