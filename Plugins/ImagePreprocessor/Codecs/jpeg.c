/* JPEG through libjpeg-turbo. libjpeg's default error handler calls exit(), so every libjpeg call here runs under our
 * own error manager, which longjmps back to the setjmp in the same function; nothing libjpeg allocates outlives it.
 * Baseline, progressive, greyscale, YCbCr, RGB, CMYK and YCCK (libjpeg turns YCCK into CMYK) are decoded. */
#include "codecs_internal.h"

#include <jpeglib.h>
#include <jerror.h>
#include <setjmp.h>
#include <string.h>

typedef struct guarded_error {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    int truncated;   /* libjpeg only warns on premature end of data and pads with grey; we refuse such files */
} guarded_error;

static void on_error(j_common_ptr c) {
    guarded_error *e = (guarded_error *)c->err;
    (*c->err->format_message)(c, e->message);
    longjmp(e->jump, 1);
}

static void on_message(j_common_ptr c, int level) {
    if (level < 0) {
        guarded_error *e = (guarded_error *)c->err;
        if (c->err->msg_code == JWRN_JPEG_EOF) e->truncated = 1;
        c->err->num_warnings++;
    }
}

static void install(struct jpeg_decompress_struct *cinfo, guarded_error *e) {
    memset(e, 0, sizeof *e);
    cinfo->err = jpeg_std_error(&e->pub);
    e->pub.error_exit = on_error;
    e->pub.emit_message = on_message;
}

/* EXIF lives in an APP1 segment "Exif\0\0" before the first SOS; walk the markers without libjpeg. */
static uint32_t jpeg_orientation(const uint8_t *d, size_t n) {
    size_t pos = 2;
    while (pos + 4 <= n) {
        if (d[pos] != 0xFF) return 1;
        uint8_t marker = d[pos + 1];
        if (marker == 0xFF) { pos++; continue; }                        /* fill byte */
        if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7)) { pos += 2; continue; }
        if (marker == 0xDA || marker == 0xD9) return 1;                 /* SOS / EOI: no EXIF before the data */
        size_t len = ((size_t)d[pos + 2] << 8) | d[pos + 3];
        if (len < 2 || pos + 2 + len > n) return 1;
        if (marker == 0xE1 && len >= 8 && memcmp(d + pos + 4, "Exif\0\0", 6) == 0)
            return mhi_exif_orientation(d + pos + 4, len - 2);
        pos += 2 + len;
    }
    return 1;
}

int mhi_jpeg_header(const uint8_t *d, size_t n, mhi_header *out, mhi_error *err) {
    struct jpeg_decompress_struct cinfo;
    guarded_error e;
    install(&cinfo, &e);
    if (setjmp(e.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return mhi_fail(err, MHI_BAD_INPUT, "corrupt JPEG: %s", e.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, d, (unsigned long)n);
    if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
        jpeg_destroy_decompress(&cinfo);
        return mhi_fail(err, MHI_BAD_INPUT, "corrupt JPEG: no image in the stream");
    }
    out->width = cinfo.image_width;
    out->height = cinfo.image_height;
    out->channels = (uint32_t)cinfo.num_components;
    jpeg_destroy_decompress(&cinfo);
    out->orientation = jpeg_orientation(d, n);
    return MHI_OK;
}

/* The smallest M in 1..8 whose M/8-scaled output covers min_width x min_height (libjpeg rounds sizes up). */
static unsigned scale_numerator(uint32_t w, uint32_t h, uint32_t min_width, uint32_t min_height) {
    if (min_width == 0 && min_height == 0) return 8;
    for (unsigned m = 1; m < 8; m++) {
        uint64_t sw = ((uint64_t)w * m + 7) / 8, sh = ((uint64_t)h * m + 7) / 8;
        if (sw >= min_width && sh >= min_height) return m;
    }
    return 8;
}

int mhi_jpeg_decode(const uint8_t *d, size_t n, uint32_t min_width, uint32_t min_height, mhi_image *out,
                    mhi_error *err) {
    struct jpeg_decompress_struct cinfo;
    guarded_error e;
    /* Written after setjmp and read after a longjmp: volatile keeps them out of registers. */
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile row4 = NULL;
    install(&cinfo, &e);
    if (setjmp(e.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        free(row4);
        return mhi_fail(err, MHI_BAD_INPUT, "corrupt JPEG: %s", e.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, d, (unsigned long)n);
    if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
        jpeg_destroy_decompress(&cinfo);
        return mhi_fail(err, MHI_BAD_INPUT, "corrupt JPEG: no image in the stream");
    }
    const int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    cinfo.scale_num = scale_numerator(cinfo.image_width, cinfo.image_height, min_width, min_height);
    cinfo.scale_denom = 8;
    cinfo.dct_method = JDCT_ISLOW;
    jpeg_start_decompress(&cinfo);
    const uint32_t w = cinfo.output_width, h = cinfo.output_height;
    pixels = mhi_alloc_pixels(w, h, 3);
    if (cmyk) row4 = mhi_alloc_pixels(w, 1, 4);
    if (pixels == NULL || (cmyk && row4 == NULL)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        free(row4);
        return mhi_fail(err, MHI_NO_MEMORY, "out of memory decoding a %ux%u JPEG", w, h);
    }
    /* Photoshop writes CMYK inverted and says so with an Adobe APP14 marker; then ink = 255 - value. */
    const int inverted = cinfo.saw_Adobe_marker;
    while (cinfo.output_scanline < h) {
        uint8_t *dst = pixels + (size_t)cinfo.output_scanline * w * 3;
        JSAMPROW rows[1] = {cmyk ? row4 : dst};
        jpeg_read_scanlines(&cinfo, rows, 1);
        if (!cmyk) continue;
        for (uint32_t x = 0; x < w; x++) {
            uint32_t c = row4[x * 4], m = row4[x * 4 + 1], y = row4[x * 4 + 2], k = row4[x * 4 + 3];
            if (!inverted) { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k; }
            /* value = 255 - ink, so R = (255 - C_ink)(255 - K_ink) / 255 = c * k / 255 */
            dst[x * 3] = (uint8_t)((c * k + 127) / 255);
            dst[x * 3 + 1] = (uint8_t)((m * k + 127) / 255);
            dst[x * 3 + 2] = (uint8_t)((y * k + 127) / 255);
        }
    }
    const int truncated = e.truncated;
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row4);
    if (truncated) {
        free(pixels);
        return mhi_fail(err, MHI_BAD_INPUT, "corrupt JPEG: premature end of data (the file is truncated)");
    }
    out->rgb = pixels;
    out->width = w;
    out->height = h;
    return MHI_OK;
}
