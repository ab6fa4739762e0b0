/* PNG through libpng. libpng reports errors by longjmp (its default handler aborts the process), so the decoder
 * installs its own error function and catches the jump with setjmp in the same function. The header (IHDR) and the
 * orientation (eXIf) are read here by walking the chunks, so a huge claimed size is refused before libpng runs. */
#include "codecs_internal.h"

#include <png.h>
#include <string.h>

int mhi_png_header(const uint8_t *d, size_t n, mhi_header *out, mhi_error *err) {
    /* signature(8) + IHDR length(4) + "IHDR"(4) + width(4) + height(4) + depth(1) + colour type(1) */
    if (n < 26 || memcmp(d + 12, "IHDR", 4) != 0 || mhi_be32(d + 8) != 13)
        return mhi_fail(err, MHI_BAD_INPUT, "corrupt PNG: the IHDR chunk is missing or truncated");
    out->width = mhi_be32(d + 16);
    out->height = mhi_be32(d + 20);
    if (out->width > 0x7FFFFFFFu || out->height > 0x7FFFFFFFu)
        return mhi_fail(err, MHI_BAD_INPUT, "corrupt PNG: dimensions out of range");
    switch (d[25]) {
    case 0: out->channels = 1; break;
    case 4: out->channels = 2; break;
    case 6: out->channels = 4; break;
    default: out->channels = 3; break; /* 2: RGB, 3: palette */
    }
    /* eXIf, if any, precedes IDAT; stop at the first IDAT or at anything that does not fit. */
    size_t pos = 8;
    while (pos + 12 <= n) {
        uint32_t len = mhi_be32(d + pos);
        const uint8_t *type = d + pos + 4;
        if ((uint64_t)len + 12 > n - pos) break;
        if (memcmp(type, "IDAT", 4) == 0 || memcmp(type, "IEND", 4) == 0) break;
        if (memcmp(type, "eXIf", 4) == 0) { out->orientation = mhi_exif_orientation(d + pos + 8, len); break; }
        pos += 12 + (size_t)len;
    }
    return MHI_OK;
}

typedef struct png_reader {
    const uint8_t *data;
    size_t length, position;
    char message[200];
} png_reader;

static void on_png_error(png_structp png, png_const_charp message) {
    png_reader *r = (png_reader *)png_get_error_ptr(png);
    snprintf(r->message, sizeof r->message, "%s", message ? message : "unknown error");
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp message) { (void)png; (void)message; }

static void read_memory(png_structp png, png_bytep out, png_size_t wanted) {
    png_reader *r = (png_reader *)png_get_io_ptr(png);
    if (wanted > r->length - r->position) png_error(png, "premature end of data (the file is truncated)");
    memcpy(out, r->data + r->position, wanted);
    r->position += wanted;
}

int mhi_png_decode(const uint8_t *d, size_t n, mhi_image *out, mhi_error *err) {
    png_reader reader = {d, n, 0, {0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (png == NULL || info == NULL) {
        png_destroy_read_struct(&png, &info, NULL);
        return mhi_fail(err, MHI_NO_MEMORY, "out of memory starting the PNG decoder");
    }
    /* Written after setjmp and read after a longjmp: volatile keeps them out of registers. */
    uint8_t *volatile rgba = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rgba);
        free(rows);
        return mhi_fail(err, MHI_BAD_INPUT, "corrupt PNG: %s", reader.message);
    }
    png_set_read_fn(png, &reader, read_memory);
    png_read_info(png, info);
    const uint32_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    /* Everything to 8-bit straight RGBA: palette and low-depth grey expanded, tRNS to alpha, 16-bit to its high
     * byte (no gamma conversion, as Pillow does), grey to RGB, opaque images get alpha 255. Flattened below. */
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_gray_to_rgb(png);
    png_set_filler(png, 0xFF, PNG_FILLER_AFTER);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 4) png_error(png, "unexpected row layout after conversion");
    rgba = mhi_alloc_pixels(w, h, 4);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * (h ? h : 1));
    if (rgba == NULL || rows == NULL) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rgba);
        free(rows);
        return mhi_fail(err, MHI_NO_MEMORY, "out of memory decoding a %ux%u PNG", w, h);
    }
    for (uint32_t y = 0; y < h; y++) rows[y] = rgba + (size_t)y * w * 4;
    png_read_image(png, rows);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    /* Flatten in place: RGBA -> RGB never overtakes the read position. */
    uint8_t *px = rgba;
    const size_t count = (size_t)w * h;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *s = px + i * 4;
        uint8_t r = s[0], g = s[1], b = s[2], a = s[3];
        uint8_t *o = px + i * 3;
        if (a == 255) { o[0] = r; o[1] = g; o[2] = b; }
        else { o[0] = mhi_over_white(r, a); o[1] = mhi_over_white(g, a); o[2] = mhi_over_white(b, a); }
    }
    uint8_t *shrunk = (uint8_t *)realloc(px, count * 3);
    out->rgb = shrunk ? shrunk : px;
    out->width = w;
    out->height = h;
    return MHI_OK;
}
