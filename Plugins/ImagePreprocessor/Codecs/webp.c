/* WebP through libwebp: lossy, lossless and alpha with WebPDecodeRGBA; animations through the demux library's
 * WebPAnimDecoder, keeping the first fully composed frame. libwebp reports errors by return value (no longjmp). */
#include "codecs_internal.h"

#include <string.h>
#include <webp/decode.h>
#include <webp/demux.h>

/* The RIFF chunks after "WEBP": an EXIF chunk carries a TIFF block. Sizes are bounds-checked; chunks are padded to
 * an even length. */
static uint32_t webp_orientation(const uint8_t *d, size_t n) {
    size_t pos = 12;
    while (pos + 8 <= n) {
        uint32_t size = mhi_le32(d + pos + 4);
        if ((uint64_t)size > n - pos - 8) return 1;
        if (memcmp(d + pos, "EXIF", 4) == 0) return mhi_exif_orientation(d + pos + 8, size);
        pos += 8 + (size_t)size + (size & 1);
    }
    return 1;
}

int mhi_webp_header(const uint8_t *d, size_t n, mhi_header *out, mhi_error *err) {
    WebPBitstreamFeatures f;
    VP8StatusCode status = WebPGetFeatures(d, n, &f);
    if (status != VP8_STATUS_OK)
        return mhi_fail(err, MHI_BAD_INPUT, "corrupt WebP: the header cannot be read (libwebp status %d)", (int)status);
    out->width = (uint32_t)f.width;
    out->height = (uint32_t)f.height;
    out->channels = f.has_alpha ? 4 : 3;
    out->orientation = webp_orientation(d, n);
    return MHI_OK;
}

static int finish_rgba(uint8_t *rgba, uint32_t w, uint32_t h, mhi_image *out, mhi_error *err) {
    uint8_t *rgb = mhi_alloc_pixels(w, h, 3);
    if (rgb == NULL) return mhi_fail(err, MHI_NO_MEMORY, "out of memory decoding a %ux%u WebP", w, h);
    const size_t count = (size_t)w * h;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *s = rgba + i * 4;
        uint32_t a = s[3];
        rgb[i * 3] = mhi_over_white(s[0], a);
        rgb[i * 3 + 1] = mhi_over_white(s[1], a);
        rgb[i * 3 + 2] = mhi_over_white(s[2], a);
    }
    out->rgb = rgb;
    out->width = w;
    out->height = h;
    return MHI_OK;
}

static int decode_animation(const uint8_t *d, size_t n, mhi_image *out, mhi_error *err) {
    WebPData data = {d, n};
    WebPAnimDecoderOptions options;
    if (!WebPAnimDecoderOptionsInit(&options)) return mhi_fail(err, MHI_BAD_INPUT, "libwebp: version mismatch");
    options.color_mode = MODE_RGBA;
    options.use_threads = 0;
    WebPAnimDecoder *decoder = WebPAnimDecoderNew(&data, &options);
    if (decoder == NULL) return mhi_fail(err, MHI_BAD_INPUT, "corrupt WebP: the animation cannot be parsed");
    WebPAnimInfo info;
    uint8_t *canvas = NULL;
    int timestamp = 0;
    int rc;
    if (!WebPAnimDecoderGetInfo(decoder, &info) || !WebPAnimDecoderGetNext(decoder, &canvas, &timestamp))
        rc = mhi_fail(err, MHI_BAD_INPUT, "corrupt WebP: the first animation frame cannot be decoded");
    else
        rc = finish_rgba(canvas, info.canvas_width, info.canvas_height, out, err);
    WebPAnimDecoderDelete(decoder);
    return rc;
}

int mhi_webp_decode(const uint8_t *d, size_t n, mhi_image *out, mhi_error *err) {
    WebPBitstreamFeatures f;
    if (WebPGetFeatures(d, n, &f) != VP8_STATUS_OK)
        return mhi_fail(err, MHI_BAD_INPUT, "corrupt WebP: the header cannot be read");
    if (f.has_animation) return decode_animation(d, n, out, err);
    int w = 0, h = 0;
    uint8_t *rgba = WebPDecodeRGBA(d, n, &w, &h);
    if (rgba == NULL) return mhi_fail(err, MHI_BAD_INPUT, "corrupt WebP: the image data cannot be decoded");
    int rc = finish_rgba(rgba, (uint32_t)w, (uint32_t)h, out, err);
    WebPFree(rgba);
    return rc;
}
