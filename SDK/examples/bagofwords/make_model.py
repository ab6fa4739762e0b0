#!/usr/bin/env python3
"""Writes a small bag-of-words model for the example encoder plugin as a GGUF v3 file, standard library only.

The model: metadata bow.context_length, and tensor bow.embeddings (F32, vocab x dim) whose row i is token i's vector.
Usage: make_model.py OUT.gguf [VOCAB [DIM]]
"""
import struct
import sys

GGUF_UINT32, GGUF_STRING = 4, 8
GGML_F32 = 0
ALIGN = 32


def gguf_string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def main():
    out = sys.argv[1]
    vocab = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    dim = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    meta = [
        ("general.architecture", GGUF_STRING, gguf_string("bow")),
        ("bow.context_length", GGUF_UINT32, struct.pack("<I", 128)),
    ]
    table = [((i * 37 + 11) % 101) / 10 - 5 for i in range(vocab * dim)]
    header = b"GGUF" + struct.pack("<IQQ", 3, 1, len(meta))
    for key, kind, payload in meta:
        header += gguf_string(key) + struct.pack("<I", kind) + payload
    # One tensor: name, n_dims, dims (innermost first), type, offset within the data section.
    header += gguf_string("bow.embeddings") + struct.pack("<I", 2) + struct.pack("<QQ", dim, vocab)
    header += struct.pack("<IQ", GGML_F32, 0)
    header += b"\0" * ((-len(header)) % ALIGN)
    with open(out, "wb") as f:
        f.write(header)
        f.write(struct.pack("<%df" % len(table), *table))
    print("wrote %s (vocab %d, dim %d)" % (out, vocab, dim))


if __name__ == "__main__":
    main()
