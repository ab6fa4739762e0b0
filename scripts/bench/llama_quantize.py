#!/usr/bin/env python3
"""Writes the default model in the GGUF formats people download, with llama.cpp's own quantizer.

The Q4_1 default file is first expanded to F16 with gguf-py (its 2-D quantized matrices dequantized exactly, then
rounded to f16; norms and every other tensor copied), then `llama_model_quantize` (llama-cpp-python, the library
that `llama-quantize` wraps) writes each requested type from that F16 file, choosing per tensor as it does for any
model: Q4_K_M keeps some matrices in Q6_K, and where a row (576 columns here) is not a multiple of 256 it falls
back to Q5_0/Q5_1/Q8_0/IQ4_NL, as it does for real models with such rows.

    scripts/setup --bench            # llama-cpp-python (builds llama.cpp: minutes)
    .venv/bin/python3 scripts/bench/llama_quantize.py OUTDIR [--source PATH] [--types q4_k_m,q5_k_m,...]

Prints each file's tensor types. The files are re-quantizations of an already 4-bit model (worse models than the
original, as such files are); they exist to measure speed and to check each format's arithmetic.
"""
import argparse
import collections
import ctypes
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T, GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import dequantize

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_SOURCE = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
TYPES = ["f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k",
         "iq4_nl"]
QUANTIZED = {T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K}


def expand_to_f16(source, destination):
    reader = GGUFReader(source)
    writer = GGUFWriter(destination, reader.fields["general.architecture"].contents())
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        if name == "general.file_type":
            writer.add_file_type(1)  # MOSTLY_F16
            continue
        vtype = field.types[0]
        sub = field.types[1] if vtype == GGUFValueType.ARRAY and len(field.types) > 1 else None
        writer.add_key_value(name, field.contents(), vtype, sub_type=sub)
    for tensor in reader.tensors:
        shape = [int(d) for d in reversed(tensor.shape)]
        if tensor.tensor_type in QUANTIZED and len(shape) == 2:
            values = dequantize(np.asarray(tensor.data).reshape(-1), tensor.tensor_type).reshape(shape)
            writer.add_tensor(tensor.name, values.astype(np.float16))
        else:
            writer.add_tensor(tensor.name, np.asarray(tensor.data), raw_shape=tensor.data.shape,
                              raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def quantize(source, destination, name, threads):
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{name.upper()}")
    params.nthread = threads
    status = llama_cpp.llama_model_quantize(source.encode(), destination.encode(), ctypes.byref(params))
    if status != 0:
        sys.exit(f"llama_model_quantize {name}: status {status}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir")
    parser.add_argument("--source", default=DEFAULT_SOURCE)
    parser.add_argument("--types", default="q4_0,q8_0,q4_k_m,q5_k_m,q6_k,iq4_nl,f16,bf16")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    names = [t.strip().lower() for t in args.types.split(",") if t.strip()]
    unknown = [t for t in names if t not in TYPES]
    if unknown:
        sys.exit(f"unknown types {unknown}; known: {','.join(TYPES)}")
    os.makedirs(args.outdir, exist_ok=True)
    stem = os.path.basename(args.source).split(".")[0]
    f16 = os.path.join(args.outdir, f"{stem}.F16.gguf")
    if not os.path.exists(f16):
        expand_to_f16(args.source, f16)
    for name in names:
        path = os.path.join(args.outdir, f"{stem}.{name.upper()}.gguf")
        if name != "f16":
            quantize(f16, path, name, args.threads)
        counts = collections.Counter(t.tensor_type.name for t in GGUFReader(path).tensors)
        print(f"{path}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
