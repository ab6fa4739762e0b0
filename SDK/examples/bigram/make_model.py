#!/usr/bin/env python3
"""Writes a small bigram model for the example plugin as a GGUF v3 file, using only the standard library.

The model: metadata bigram.vocab_size and bigram.context_length, and tensor bigram.logits (F32, vocab x vocab) whose
row j holds the logits of the token following token j. Usage: make_model.py OUT.gguf [VOCAB]
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
    vocab = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    meta = [
        ("general.architecture", GGUF_STRING, gguf_string("bigram")),
        ("bigram.vocab_size", GGUF_UINT32, struct.pack("<I", vocab)),
        ("bigram.context_length", GGUF_UINT32, struct.pack("<I", 256)),
    ]
    table = [((i * 37 + 11) % 101) / 10 - 5 for i in range(vocab * vocab)]
    header = b"GGUF" + struct.pack("<IQQ", 3, 1, len(meta))
    for key, kind, payload in meta:
        header += gguf_string(key) + struct.pack("<I", kind) + payload
    # One tensor: name, n_dims, dims (innermost first), type, offset within the data section.
    header += gguf_string("bigram.logits") + struct.pack("<I", 2) + struct.pack("<QQ", vocab, vocab)
    header += struct.pack("<IQ", GGML_F32, 0)
    header += b"\0" * ((-len(header)) % ALIGN)
    with open(out, "wb") as f:
        f.write(header)
        f.write(struct.pack("<%df" % len(table), *table))
    print("wrote %s (vocab %d)" % (out, vocab))


if __name__ == "__main__":
    main()
