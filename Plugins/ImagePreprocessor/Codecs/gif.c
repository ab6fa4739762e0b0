/* GIF through giflib, first frame only: records are read one at a time up to the first image descriptor, so an
 * animation's later frames are never decoded. The frame is drawn onto a canvas of the logical screen size; pixels it
 * does not cover and its transparent index are white (transparency flattened onto white like every other format). */
#include "codecs_internal.h"

#include <gif_lib.h>
#include <string.h>

int mhi_gif_header(const uint8_t *d, size_t n, mhi_header *out, mhi_error *err) {
    if (n < 13) return mhi_fail(err, MHI_BAD_INPUT, "corrupt GIF: the header is truncated");
    out->width = mhi_le16(d + 6);
    out->height = mhi_le16(d + 8);
    out->channels = 3;
    return MHI_OK;
}

typedef struct cursor { const uint8_t *data; size_t length, position; } cursor;

static int read_memory(GifFileType *gif, GifByteType *buffer, int wanted) {
    cursor *c = (cursor *)gif->UserData;
    size_t left = c->length - c->position;
    size_t take = wanted < 0 ? 0 : ((size_t)wanted < left ? (size_t)wanted : left);
    memcpy(buffer, c->data + c->position, take);
    c->position += take;
    return (int)take;
}

static int gif_error(GifFileType *gif, mhi_error *err, const char *what) {
    int code = gif ? gif->Error : 0;
    const char *text = GifErrorString(code);
    return mhi_fail(err, MHI_BAD_INPUT, "corrupt GIF: %s (%s)", what, text ? text : "unknown error");
}

int mhi_gif_decode(const uint8_t *d, size_t n, uint64_t max_pixels, mhi_image *out, mhi_error *err) {
    cursor c = {d, n, 0};
    int code = 0;
    GifFileType *gif = DGifOpen(&c, read_memory, &code);
    if (gif == NULL) {
        const char *text = GifErrorString(code);
        return mhi_fail(err, MHI_BAD_INPUT, "corrupt GIF: %s", text ? text : "cannot open");
    }
    int rc = MHI_OK, transparent = -1;
    uint8_t *canvas = NULL, *line = NULL;
    for (;;) {
        GifRecordType type;
        if (DGifGetRecordType(gif, &type) == GIF_ERROR) { rc = gif_error(gif, err, "bad record"); break; }
        if (type == TERMINATE_RECORD_TYPE) { rc = mhi_fail(err, MHI_BAD_INPUT, "corrupt GIF: it holds no image"); break; }
        if (type == EXTENSION_RECORD_TYPE) {
            int ext_code;
            GifByteType *ext = NULL;
            if (DGifGetExtension(gif, &ext_code, &ext) == GIF_ERROR) { rc = gif_error(gif, err, "bad extension"); break; }
            if (ext_code == GRAPHICS_EXT_FUNC_CODE && ext != NULL && ext[0] >= 4) {
                GraphicsControlBlock gcb;
                if (DGifExtensionToGCB(ext[0], ext + 1, &gcb) == GIF_OK) transparent = gcb.TransparentColor;
            }
            while (ext != NULL)
                if (DGifGetExtensionNext(gif, &ext) == GIF_ERROR) { rc = gif_error(gif, err, "bad extension"); break; }
            if (rc != MHI_OK) break;
            continue;
        }
        if (type != IMAGE_DESC_RECORD_TYPE) continue;
        if (DGifGetImageDesc(gif) == GIF_ERROR) { rc = gif_error(gif, err, "bad image descriptor"); break; }
        const GifImageDesc *desc = &gif->Image;
        const ColorMapObject *map = desc->ColorMap ? desc->ColorMap : gif->SColorMap;
        const uint32_t sw = (uint32_t)gif->SWidth, sh = (uint32_t)gif->SHeight;
        const uint32_t fw = (uint32_t)desc->Width, fh = (uint32_t)desc->Height;
        if (map == NULL) { rc = mhi_fail(err, MHI_BAD_INPUT, "corrupt GIF: the first frame has no colour map"); break; }
        if (sw == 0 || sh == 0 || fw == 0 || fh == 0) { rc = mhi_fail(err, MHI_BAD_INPUT, "corrupt GIF: empty frame"); break; }
        if (max_pixels != 0 && (uint64_t)fw * fh > max_pixels) {
            rc = mhi_fail(err, MHI_TOO_LARGE, "GIF frame of %ux%u exceeds the pixel limit", fw, fh);
            break;
        }
        canvas = mhi_alloc_pixels(sw, sh, 3);
        line = mhi_alloc_pixels(fw, 1, 1);
        if (canvas == NULL || line == NULL) { rc = mhi_fail(err, MHI_NO_MEMORY, "out of memory decoding a GIF"); break; }
        memset(canvas, 255, (size_t)sw * sh * 3);
        /* Interlaced frames store rows in four passes: every 8th from 0, every 8th from 4, every 4th from 2,
         * every 2nd from 1. */
        static const uint32_t start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
        const int passes = desc->Interlace ? 4 : 1;
        for (int p = 0; p < passes && rc == MHI_OK; p++) {
            for (uint32_t y = desc->Interlace ? start[p] : 0; y < fh; y += desc->Interlace ? step[p] : 1) {
                if (DGifGetLine(gif, line, (int)fw) == GIF_ERROR) { rc = gif_error(gif, err, "truncated image data"); break; }
                uint64_t cy = (uint64_t)desc->Top + y;
                if (cy >= sh) continue;
                uint8_t *row = canvas + (size_t)cy * sw * 3;
                for (uint32_t x = 0; x < fw; x++) {
                    uint64_t cx = (uint64_t)desc->Left + x;
                    if (cx >= sw) break;
                    int index = line[x];
                    if (index == transparent) continue;
                    GifColorType col = {0, 0, 0};
                    if (index < map->ColorCount) col = map->Colors[index];
                    row[cx * 3] = col.Red;
                    row[cx * 3 + 1] = col.Green;
                    row[cx * 3 + 2] = col.Blue;
                }
            }
        }
        if (rc == MHI_OK) {
            out->rgb = canvas;
            out->width = sw;
            out->height = sh;
            canvas = NULL;
        }
        break;
    }
    free(canvas);
    free(line);
    DGifCloseFile(gif, &code);
    return rc;
}
