#!/usr/bin/env python3
"""Writes a copy of a GGUF model with its quantized 2-D weight matrices re-quantized to another type, with gguf-py's
reference quantizer (the same block math as llama.cpp's): for benchmarks and accuracy checks of formats that no
downloadable file of the default model uses. Metadata and every other tensor are copied unchanged.

    .venv/bin/python3 scripts/bench/requantize.py models/SmolLM2-135M-Instruct.Q4_1.gguf /tmp/smollm2.Q4_0.gguf q4_0

The source's values are dequantized to Float32 first, so the result is a re-quantization of an already quantized
model (as llama.cpp's `--allow-requantize` would make), not of the original weights.
"""
import sys

import numpy as np
from gguf import GGMLQuantizationType as T, GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import dequantize, quantize

TARGETS = {"q4_0": T.Q4_0, "q4_1": T.Q4_1, "q8_0": T.Q8_0, "q5_0": T.Q5_0, "q5_1": T.Q5_1}
QUANTIZED = {T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0}


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
        if tensor.tensor_type in QUANTIZED and len(shape) == 2 and shape[1] % 32 == 0:
            values = dequantize(np.asarray(data).reshape(-1), tensor.tensor_type).astype(np.float32).reshape(shape)
            packed = quantize(values, target)
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
