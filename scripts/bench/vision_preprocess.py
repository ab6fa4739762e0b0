#!/usr/bin/env python3
"""Image preprocessing throughput: a 4000x3000 JPEG down to 512 px on the longest side, by the image preprocessor
plugin (loaded with ctypes through its C ABI, as a worker would) and by Pillow, in the same process and run.

    python3 scripts/bench/vision_preprocess.py [--library PATH] [--image JPEG] [--runs N]

The plugin's figure is a full `process` call: decode (libjpeg DCT-scaled to cover the target), the seed's auto-resize
to 512x384 (Lanczos-3), then the model stage configured as image_size 512 without tiling (one more resize to
512x512) and float32 normalization. Pillow only decodes and resizes: `Image.open(...).convert('RGB').resize(...,
LANCZOS)`, and again with `draft()` (libjpeg DCT scaling to >= the target, Pillow's fast path). Both read the JPEG
from memory. Needs Pillow; the library defaults to .build/release/libMHImagePreprocessor.so (scripts/build).
"""
import argparse
import ctypes as C
import io
import os
import statistics
import sys
import time

from PIL import Image, ImageDraw, ImageFilter

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Status(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("code", C.c_int32), ("message", C.c_char * 512)]


class HwInfo(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("threads", C.c_uint32), ("cpu_features", C.c_uint64),
                ("memory_limit_bytes", C.c_uint64), ("logical_cores", C.c_uint32), ("reserved", C.c_uint32)]


LOG = C.CFUNCTYPE(None, C.c_void_p, C.c_int32, C.c_char_p)
ALLOC = C.CFUNCTYPE(C.c_void_p, C.c_void_p, C.c_uint64, C.c_uint64)
FREE = C.CFUNCTYPE(None, C.c_void_p, C.c_void_p)
CANCELLED = C.CFUNCTYPE(C.c_int32, C.c_void_p, C.c_uint64)
HOST_IFACE = C.CFUNCTYPE(C.c_void_p, C.c_void_p, C.c_char_p)


class Host(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("abi_major", C.c_uint16), ("abi_minor", C.c_uint16),
                ("host_ctx", C.c_void_p), ("log", LOG), ("alloc", ALLOC), ("free", FREE),
                ("is_cancelled", CANCELLED), ("get_interface", HOST_IFACE), ("hw", C.POINTER(HwInfo))]


class Plugin(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("abi_major", C.c_uint16), ("abi_minor_built", C.c_uint16),
                ("abi_minor_required", C.c_uint16), ("kind", C.c_uint16), ("reserved", C.c_uint32),
                ("id", C.c_char_p), ("version", C.c_char_p), ("runtime_tag", C.c_char_p), ("build_info", C.c_char_p),
                ("capabilities", C.c_uint64), ("probe", C.c_void_p),
                ("init", C.CFUNCTYPE(C.c_int32, C.POINTER(Host), C.POINTER(C.c_void_p), C.POINTER(Status))),
                ("shutdown", C.CFUNCTYPE(None, C.c_void_p)),
                ("get_interface", C.CFUNCTYPE(C.c_void_p, C.c_void_p, C.c_char_p))]


class Config(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("max_dimension", C.c_uint32), ("image_size", C.c_uint32),
                ("max_tiles", C.c_uint32), ("image_mean", C.c_float * 3), ("image_std", C.c_float * 3),
                ("rescale", C.c_float), ("reserved", C.c_uint32), ("max_pixels", C.c_uint64)]


class Tensor(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("dtype", C.c_uint32), ("ndim", C.c_int32), ("flags", C.c_uint32),
                ("shape", C.c_int64 * 8), ("stride_bytes", C.c_int64 * 8), ("data", C.c_void_p),
                ("nbytes", C.c_uint64), ("device_type", C.c_int32), ("device_id", C.c_int32)]


class PixelsInfo(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("tile_rows", C.c_uint32), ("tile_cols", C.c_uint32),
                ("n_images", C.c_uint32)]


class Preprocessor(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("reserved", C.c_uint32),
                ("create", C.CFUNCTYPE(C.c_int32, C.c_void_p, C.POINTER(Config), C.POINTER(C.c_void_p),
                                       C.POINTER(Status))),
                ("destroy", C.CFUNCTYPE(None, C.c_void_p)),
                ("inspect", C.c_void_p),
                ("process", C.CFUNCTYPE(C.c_int32, C.c_void_p, C.c_char_p, C.c_uint64, C.POINTER(C.c_void_p),
                                        C.POINTER(Status))),
                ("pixels_view", C.CFUNCTYPE(C.c_int32, C.c_void_p, C.POINTER(Tensor), C.POINTER(PixelsInfo),
                                            C.POINTER(Status))),
                ("pixels_release", C.CFUNCTYPE(None, C.c_void_p))]


def status():
    return Status(C.sizeof(Status), 0, b"")


class PluginPreprocessor:
    """The plugin through its C ABI: entry, init, the preprocessor interface, create."""

    def __init__(self, library, max_dimension, image_size):
        self.lib = C.CDLL(library, mode=os.RTLD_NOW | os.RTLD_LOCAL)
        libc = C.CDLL(None)
        libc.aligned_alloc.restype = C.c_void_p
        libc.aligned_alloc.argtypes = [C.c_size_t, C.c_size_t]
        libc.free.argtypes = [C.c_void_p]
        self.hw = HwInfo(C.sizeof(HwInfo), 1, 0, 0, os.cpu_count() or 1, 0)
        # Keep the callbacks referenced: ctypes frees their trampolines with the Python objects.
        self.callbacks = (
            LOG(lambda ctx, level, msg: None),
            ALLOC(lambda ctx, size, align: libc.aligned_alloc(max(align, 16), (size + align - 1) // align * align)),
            FREE(lambda ctx, p: libc.free(p)),
            CANCELLED(lambda ctx, token: 0),
            HOST_IFACE(lambda ctx, iid: None),
        )
        self.host = Host(C.sizeof(Host), 1, 0, None, *self.callbacks, C.pointer(self.hw))
        entry = self.lib.mh_plugin_entry_v1
        entry.restype = C.c_int32
        entry.argtypes = [C.POINTER(Host), C.POINTER(C.POINTER(Plugin)), C.POINTER(Status)]
        desc, st = C.POINTER(Plugin)(), status()
        self.check(entry(C.byref(self.host), C.byref(desc), C.byref(st)), st, "entry")
        self.plugin = desc.contents
        ctx = C.c_void_p()
        self.check(self.plugin.init(C.byref(self.host), C.byref(ctx), C.byref(st)), st, "init")
        table = self.plugin.get_interface(ctx, b"mh.image_preprocessor.v1")
        if not table:
            sys.exit("the library does not implement mh.image_preprocessor.v1")
        self.pp_table = C.cast(table, C.POINTER(Preprocessor)).contents
        config = Config(C.sizeof(Config), max_dimension, image_size, 0, (C.c_float * 3)(0.5, 0.5, 0.5),
                        (C.c_float * 3)(0.5, 0.5, 0.5), 1 / 255, 0, 50_000_000)
        self.pp = C.c_void_p()
        self.check(self.pp_table.create(ctx, C.byref(config), C.byref(self.pp), C.byref(st)), st, "create")

    @staticmethod
    def check(rc, st, what):
        if rc != 0:
            sys.exit(f"{what} failed ({rc}): {st.message.decode()}")

    def process(self, data):
        px, st = C.c_void_p(), status()
        self.check(self.pp_table.process(self.pp, data, len(data), C.byref(px), C.byref(st)), st, "process")
        tensor, info = Tensor(), PixelsInfo()
        tensor.struct_size, info.struct_size = C.sizeof(Tensor), C.sizeof(PixelsInfo)
        self.check(self.pp_table.pixels_view(px, C.byref(tensor), C.byref(info), C.byref(st)), st, "pixels_view")
        shape = tuple(tensor.shape[i] for i in range(tensor.ndim))
        self.pp_table.pixels_release(px)
        return shape


def photo_like_jpeg(width=4000, height=3000):
    """A deterministic, photo-like test picture: gradients, shapes, blur and noise (so the entropy coder has work)."""
    im = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    r, g, b = im.split()
    im = Image.merge("RGB", (r, g.transpose(Image.Transpose.FLIP_LEFT_RIGHT), b.rotate(90, expand=False)))
    draw = ImageDraw.Draw(im)
    for i in range(60):
        x, y = (i * 7919) % width, (i * 104729) % height
        draw.ellipse((x, y, x + 300 + i * 5, y + 200 + i * 3), fill=((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
    im = im.filter(ImageFilter.GaussianBlur(2))
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    im = Image.blend(im, noise, 0.15)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90)
    return out.getvalue()


def pillow(data, size):
    return Image.open(io.BytesIO(data)).convert("RGB").resize(size, Image.Resampling.LANCZOS)


def pillow_draft(data, size):
    im = Image.open(io.BytesIO(data))
    im.draft("RGB", size)
    return im.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def timed(fns, runs):
    """Runs the contenders interleaved (so load changes on a shared machine hit all of them alike); returns
    (median, best) seconds per contender."""
    for fn in fns:
        fn()  # warm-up
    samples = [[] for _ in fns]
    for _ in range(runs):
        for fn, out in zip(fns, samples):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return [(statistics.median(s), min(s)) for s in samples]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--library", default=os.path.join(ROOT, ".build", "release", "libMHImagePreprocessor.so"))
    ap.add_argument("--image", help="a JPEG to use instead of the generated 4000x3000 picture")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--max-dimension", type=int, default=512)
    args = ap.parse_args()
    if not os.path.exists(args.library):
        sys.exit(f"{args.library} not found: build it with scripts/build (or swift build -c release --product MHImagePreprocessor)")
    data = open(args.image, "rb").read() if args.image else photo_like_jpeg()
    w, h = Image.open(io.BytesIO(data)).size
    scale = min(args.max_dimension / w, args.max_dimension / h)
    size = (int(w * scale), int(h * scale))
    plugin = PluginPreprocessor(args.library, args.max_dimension, args.max_dimension)
    shape = plugin.process(data)
    (p_med, p_min), (q_med, q_min), (d_med, d_min) = timed(
        [lambda: plugin.process(data), lambda: pillow(data, size), lambda: pillow_draft(data, size)], args.runs)
    print(f"input: {w}x{h} JPEG, {len(data) / 1e6:.1f} MB; target {size[0]}x{size[1]}; {args.runs} interleaved runs, "
          f"1 thread; median / best")
    print(f"plugin  decode+resize+square+normalize  {p_med * 1e3:7.1f} / {p_min * 1e3:6.1f} ms   output {list(shape)} float32")
    print(f"Pillow  open.convert.resize(LANCZOS)    {q_med * 1e3:7.1f} / {q_min * 1e3:6.1f} ms   "
          f"plugin speed-up {q_med / p_med:5.2f}x / {q_min / p_min:5.2f}x")
    print(f"Pillow  with draft() (DCT scaling)      {d_med * 1e3:7.1f} / {d_min * 1e3:6.1f} ms   "
          f"plugin speed-up {d_med / p_med:5.2f}x / {d_min / p_min:5.2f}x")


if __name__ == "__main__":
    main()
