#!/usr/bin/env python3
"""Writes a copy of a GGUF model with its quantized 2-D weight matrices re-quantized to another type: for benchmarks
and accuracy checks of formats that no downloadable file of the default model uses. Metadata and every other tensor
are copied unchanged.

Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 use gguf-py's reference quantizer (the same block math as llama.cpp's). gguf-py has
no quantizer for Q4_K, Q5_K, Q6_K and IQ4_NL, so this file has plain round-to-nearest ones (`quantize_k` below:
per-sub-block scale and minimum from the block's range, no search): deterministic, in the exact block layouts of
ggml-common.h, and dequantized by gguf-py itself in the float64 gold. They check a format's arithmetic, not
llama.cpp's choice of values; `llama_quantize.py` writes the files llama.cpp's own quantizer makes. Rows whose length
is not a multiple of 256 keep their type (as llama.cpp falls back to another for them).

    .venv/bin/python3 scripts/bench/requantize.py models/SmolLM2-135M-Instruct.Q4_1.gguf /tmp/smollm2.Q4_0.gguf q4_0

The source's values are dequantized to Float32 first, so the result is a re-quantization of an already quantized
model (as llama.cpp's `--allow-requantize` would make), not of the original weights.
"""
import sys

import numpy as np
from gguf import GGMLQuantizationType as T, GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import dequantize, quantize

TARGETS = {"q4_0": T.Q4_0, "q4_1": T.Q4_1, "q8_0": T.Q8_0, "q5_0": T.Q5_0, "q5_1": T.Q5_1,
           "q4_k": T.Q4_K, "q5_k": T.Q5_K, "q6_k": T.Q6_K, "iq4_nl": T.IQ4_NL}
QUANTIZED = {T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0}
IQ4NL_VALUES = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], dtype=np.float32)


def f16(values):
    return values.astype(np.float16)


def pack_k_scales(sc, mn):
    """Q4_K/Q5_K's 12 bytes of eight 6-bit scales and minimums (ggml's get_scale_min_k4, inverted): (n, 8) -> (n, 12)."""
    out = np.zeros((sc.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = sc[:, 0:4] | ((sc[:, 4:8] >> 4) << 6)
    out[:, 4:8] = mn[:, 0:4] | ((mn[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:8] & 0x0F) | ((mn[:, 4:8] & 0x0F) << 4)
    return out


def affine_k(x, levels):
    """Per 32-value sub-block of each 256-value block: unsigned q in 0..levels with value (d·sc)·q − dmin·m.
    Returns d, dmin (f16, per block), sc, m (uint8, (n, 8)) and q (uint8, (n, 8, 32))."""
    sub = x.reshape(-1, 8, 32)
    low = np.minimum(sub.min(axis=2), 0)
    scale = (sub.max(axis=2) - low) / levels
    d = f16(scale.max(axis=1) / 63)
    dmin = f16((-low).max(axis=1) / 63)
    d32, dmin32 = d.astype(np.float32)[:, None], dmin.astype(np.float32)[:, None]
    sc = np.clip(np.round(np.divide(scale, d32, out=np.zeros_like(scale), where=d32 != 0)), 0, 63).astype(np.uint8)
    mn = np.clip(np.round(np.divide(-low, dmin32, out=np.zeros_like(low), where=dmin32 != 0)), 0, 63).astype(np.uint8)
    full = (d32 * sc)[:, :, None]
    offset = (dmin32 * mn)[:, :, None]
    q = np.divide(sub + offset, full, out=np.zeros_like(sub), where=full != 0)
    return d, dmin, sc, mn, np.clip(np.round(q), 0, levels).astype(np.uint8)


def quantize_k(values, target):
    """Round-to-nearest Q4_K, Q5_K, Q6_K or IQ4_NL blocks of a (rows, columns) array, as uint8 (rows, row bytes)."""
    rows = values.shape[0]
    x = values.astype(np.float32).reshape(-1)
    if target == T.IQ4_NL:
        blocks = x.reshape(-1, 32)
        d = f16(np.abs(blocks).max(axis=1) / 127)
        d32 = d.astype(np.float32)[:, None]
        scaled = np.divide(blocks, d32, out=np.zeros_like(blocks), where=d32 != 0)
        index = np.abs(scaled[:, :, None] - IQ4NL_VALUES[None, None, :]).argmin(axis=2).astype(np.uint8)
        packed = index[:, :16] | (index[:, 16:] << 4)
        return np.concatenate([d.view(np.uint8).reshape(-1, 2), packed], axis=1).reshape(rows, -1)
    if target in (T.Q4_K, T.Q5_K):
        levels = 15 if target == T.Q4_K else 31
        d, dmin, sc, mn, q = affine_k(x, levels)
        nib = q & 0x0F
        qs = (nib[:, 0::2, :] | (nib[:, 1::2, :] << 4)).reshape(-1, 128)
        parts = [d.view(np.uint8).reshape(-1, 2), dmin.view(np.uint8).reshape(-1, 2), pack_k_scales(sc, mn)]
        if target == T.Q5_K:
            high = (q >> 4) & 1                                     # (n, 8, 32)
            parts.append((high << np.arange(8, dtype=np.uint8)[None, :, None]).sum(axis=1).astype(np.uint8))
        parts.append(qs)
        return np.concatenate(parts, axis=1).reshape(rows, -1)
    # Q6_K: 16 sub-blocks of 16, signed q in -32..31 with value (d·sc)·q.
    sub = x.reshape(-1, 16, 16)
    scale = np.abs(sub).max(axis=2) / 31
    d = f16(scale.max(axis=1) / 127)
    d32 = d.astype(np.float32)[:, None]
    sc = np.clip(np.round(np.divide(scale, d32, out=np.zeros_like(scale), where=d32 != 0)), -128, 127).astype(np.int8)
    full = (d32 * sc)[:, :, None]
    q = np.clip(np.round(np.divide(sub, full, out=np.zeros_like(sub), where=full != 0)), -32, 31)
    u = (q + 32).astype(np.uint8).reshape(-1, 2, 128)             # element e = 128h + r
    low, high = u & 0x0F, u >> 4
    ql = (low[:, :, 0:64] | (low[:, :, 64:128] << 4)).reshape(-1, 128)
    qh = (high[:, :, 0:32] | (high[:, :, 32:64] << 2) | (high[:, :, 64:96] << 4) | (high[:, :, 96:128] << 6))
    return np.concatenate([ql, qh.reshape(-1, 64), sc.view(np.uint8), d.view(np.uint8).reshape(-1, 2)],
                          axis=1).reshape(rows, -1)


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in TARGETS:
        sys.exit(f"usage: requantize.py SRC.gguf DST.gguf {{{','.join(TARGETS)}}}")
    source, destination, target = sys.argv[1], sys.argv[2], TARGETS[sys.argv[3]]
    reader = GGUFReader(source)
    arch = reader.fields["general.architecture"].contents()
    writer = GGUFWriter(destination, arch)
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        vtype = field.types[0]
        sub = field.types[1] if vtype == GGUFValueType.ARRAY and len(field.types) > 1 else None
        writer.add_key_value(name, field.contents(), vtype, sub_type=sub)
    changed = 0
    for tensor in reader.tensors:
        data = tensor.data
        shape = [int(d) for d in reversed(tensor.shape)]  # numpy order: rows first
        block = 256 if target in (T.Q4_K, T.Q5_K, T.Q6_K) else 32
        if tensor.tensor_type in QUANTIZED and len(shape) == 2 and shape[1] % block == 0:
            values = dequantize(np.asarray(data).reshape(-1), tensor.tensor_type).astype(np.float32).reshape(shape)
            packed = quantize(values, target) if block == 32 and target != T.IQ4_NL else quantize_k(values, target)
            writer.add_tensor(tensor.name, packed, raw_dtype=target)
            changed += 1
        else:
            writer.add_tensor(tensor.name, np.asarray(data), raw_shape=data.shape, raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"{destination}: {changed} matrices as {sys.argv[3].upper()}")


if __name__ == "__main__":
    main()
