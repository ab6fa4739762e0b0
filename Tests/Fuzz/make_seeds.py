#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets (Tests/Fuzz/Corpus/<target>/seed-*) with independent tools: gguf-py for
GGUF files, safetensors (numpy) for tensor files, HF `tokenizers` for tokenizer.json, and the committed fixtures
(chat templates, JSON schemas, the tokenizer corpus). The wire targets' seeds (messages, ring) are encoded by the
real encoders instead: `swift run -c release modelhost-fuzz --write-seeds Tests/Fuzz/Corpus`.

Seeds are small on purpose (each target has a -max_len); the fuzzer grows the rest. Re-running rewrites the seed-*
files only, never what `scripts/fuzz --update-corpus` or a crash added.

    .venv/bin/python3 Tests/Fuzz/make_seeds.py
"""
import io
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTS = os.path.join(ROOT, "Tests")
CORPUS = os.path.join(TESTS, "Fuzz", "Corpus")
SEP = b"\n#~#\n"


def write(target, name, data, max_len):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    if len(data) > max_len:
        raise SystemExit(f"{target}/{name}: {len(data)} bytes exceeds the target's max length {max_len}")
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


def gguf_seeds():
    import gguf
    from gguf import GGMLQuantizationType as T
    from gguf.quants import quantize

    def build(path_name, arch, tokenizer_model, quant):
        buffer = os.path.join("/tmp", f"modelhost-seed-{os.getpid()}.gguf")
        w = gguf.GGUFWriter(buffer, arch)
        w.add_context_length(256)
        w.add_block_count(1)
        w.add_embedding_length(32)
        w.add_head_count(2)
        w.add_string("general.name", "fuzz seed")
        w.add_float32("general.sampling.temp", 0.6)
        w.add_uint32("general.sampling.top_k", 20)
        w.add_tokenizer_model(tokenizer_model)
        if tokenizer_model == "gpt2":
            w.add_tokenizer_pre("smollm")
            tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + [chr(c) for c in range(0x21, 0x7F)] + ["Ġ", "Ġt", "he", "Ġthe", "Ċ"]
            w.add_token_list(tokens)
            w.add_token_types([3, 3, 3] + [1] * (len(tokens) - 3))
            w.add_token_merges(["Ġ t", "h e", "Ġt he"])
            w.add_bos_token_id(1)
            w.add_eos_token_id(2)
        else:
            tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + ["▁", "▁t", "he", "▁the"]
            w.add_token_list(tokens)
            w.add_token_scores([0.0] * 3 + [-1000.0] * 256 + [-1.0, -2.0, -3.0, -4.0])
            w.add_token_types([2, 3, 3] + [6] * 256 + [1] * 4)
            w.add_bos_token_id(1)
            w.add_eos_token_id(2)
            w.add_add_bos_token(True)
        w.add_chat_template("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}")
        rng = np.random.default_rng(7)
        w.add_tensor("token_embd.weight", rng.standard_normal((8, 32), dtype=np.float32))
        w.add_tensor("output_norm.weight", np.ones(32, dtype=np.float32).astype(np.float16))
        if quant is not None:
            data = rng.standard_normal((2, 64), dtype=np.float32)
            w.add_tensor("blk.0.attn_q.weight", quantize(data, quant), raw_dtype=quant)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        with open(buffer, "rb") as f:
            data = f.read()
        os.remove(buffer)
        write("gguf", path_name, data, 64 << 10)

    build("gpt2-q8_0", "llama", "gpt2", T.Q8_0)
    build("spm-q4_1", "llama", "llama", T.Q4_1)
    build("minimal", "llama", "gpt2", None)


def safetensors_bytes(tensors, metadata=None):
    from safetensors.numpy import save
    return save(tensors, metadata=metadata)


def safetensors_seeds():
    rng = np.random.default_rng(3)
    write("safetensors", "mixed", safetensors_bytes({
        "a.weight": rng.standard_normal((4, 8), dtype=np.float32),
        "b.bias": np.arange(6, dtype=np.float16),
        "c.ids": np.arange(3, dtype=np.int64),
        "scalar": np.array(1.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }, metadata={"format": "pt"}), 16 << 10)
    write("safetensors", "uint8", safetensors_bytes({"q": np.arange(16, dtype=np.uint8).reshape(4, 4)}), 16 << 10)


def model_folder_seeds():
    rng = np.random.default_rng(5)
    config = json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8,
                         "max_position_embeddings": 2048, "vision_config": None}).encode()
    shard = safetensors_bytes({"model.embed_tokens.weight": rng.standard_normal((4, 8), dtype=np.float32)})
    index = json.dumps({"metadata": {"total_size": 128},
                        "weight_map": {"model.embed_tokens.weight": "model-00001-of-00001.safetensors"}}).encode()
    generation = json.dumps({"temperature": 0.7, "top_k": 20, "top_p": 0.8, "repetition_penalty": 1.05}).encode()
    write("model-folder", "sharded", config + SEP + index + SEP + shard + SEP + generation, 16 << 10)
    write("model-folder", "single", config + SEP + SEP + shard, 16 << 10)
    vision = json.dumps({"model_type": "idefics3", "text_config": {"max_position_embeddings": 8192},
                         "vision_config": {"image_size": 512}}).encode()
    write("model-folder", "vision", vision + SEP + SEP + shard + SEP + b'{"temperature": "hot"}', 16 << 10)


def json_seeds():
    bodies = [
        {"model": "default", "messages": [{"role": "system", "content": "Be brief."},
                                          {"role": "user", "content": "Capital of France?"}],
         "max_tokens": 32, "temperature": 0.7, "top_p": 0.9, "stop": ["\n", "User:"], "seed": 42, "n": 2,
         "stream": True, "stream_options": {"include_usage": True}},
        {"model": "default", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}],
         "logprobs": True, "top_logprobs": 3, "logit_bias": {"15": -100, "7": 5}},
        {"model": "default", "messages": [{"role": "user", "content": "JSON please"}],
         "response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": {
             "type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
             "required": ["name"]}}}},
        {"model": "default", "prompt": ["Once upon", [1, 2, 3]], "max_tokens": 16, "echo": True, "logprobs": 2,
         "frequency_penalty": 0.5, "presence_penalty": -0.5, "repetition_penalty": 1.1, "top_k": 40, "min_p": 0.05},
        {"model": "default", "prompt": "x", "max_tokens": 1e3, "temperature": None, "user": "u-1"},
    ]
    for i, body in enumerate(bodies):
        write("json", f"body-{i}.json", json.dumps(body, ensure_ascii=(i % 2 == 0)), 8 << 10)
    write("json", "escapes.json", r'{"a":"\u00e9\ud83d\ude00\n\t\"\\\/","b":[1,-0,1.5e-3,1E+2,12345678901234567890,true,false,null]}', 8 << 10)
    write("json", "nested.json", "[" * 40 + "]" * 40, 8 << 10)


def jinja_seeds():
    folder = os.path.join(TESTS, "ChatTemplateTests", "Fixtures", "templates")
    for name in sorted(os.listdir(folder)):
        if name.endswith(".jinja"):
            with open(os.path.join(folder, name), "rb") as f:
                write("jinja", name, f.read(), 16 << 10)
    messages = json.dumps([{"role": "user", "content": "Hi"},
                           {"role": "assistant", "content": "Hello", "reasoning_content": "greet"}]).encode()
    with open(os.path.join(folder, "qwen3.jinja"), "rb") as f:
        write("jinja", "qwen3-with-messages", f.read() + SEP + messages, 16 << 10)
    write("jinja", "features", """{%- set ns = namespace(n=0) -%}
{%- macro m(x, y=2) -%}{{ x * y }}{%- endmacro -%}
{%- for i in range(3) if i != 1 -%}{{ loop.index }}{{ m(i) }}{% set ns.n = ns.n + i %}{%- endfor -%}
{{ ns.n | string | length }}{{ "%s-%d" | format("a", 3) }}{{ [1, 2] | tojson }}{{ {"k": 1} | items | list }}
{{ messages[0].content[:5] | upper | replace("BE", "be") }}{{ tools | default([]) | length }}
{% if messages | selectattr("role", "equalto", "tool") | list %}tool{% elif x is defined %}x{% else %}none{% endif %}
{{ raise_exception("no") if false }}{{ strftime_now("%Y-%m-%d") }}{{ "a,b".split(",") | join("|") }}""", 16 << 10)


def tokenizer_seeds():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    text = ["Hello world, the quick brown fox.", "wörld 東京 🙂 123 456", "the the the then there"] * 20

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(text, trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "</s>"],
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    write("tokenizer-json", "byte-level.json", bpe.to_str(), 64 << 10)

    spm = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>"))
    spm.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    spm.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    spm.train_from_iterator(text, trainers.BpeTrainer(
        vocab_size=320, special_tokens=["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]))
    write("tokenizer-json", "sentencepiece.json", spm.to_str(), 64 << 10)

    lines = []
    with open(os.path.join(TESTS, "TokenizerTests", "Fixtures", "corpus.jsonl"), encoding="utf-8") as f:
        for line in f:
            lines.append(json.loads(line))
    step = max(1, len(lines) // 40)
    for i, line in enumerate(lines[::step][:40]):
        data = bytes([i % 4]) + line.encode("utf-8")[:4000]
        write("tokenize", f"corpus-{i:02d}", data, 4 << 10)
    write("tokenize", "specials", bytes([2]) + "<|begin_of_text|>hi<|eot_id|><s></s>".encode(), 4 << 10)


def schema_seeds():
    rng = np.random.default_rng(11)
    with open(os.path.join(TESTS, "StructuredOutputTests", "Fixtures", "json_schemas.jsonl"), encoding="utf-8") as f:
        schemas = [line.strip() for line in f if line.strip()]
    picked = [s for s in schemas if len(s) < 2000][::max(1, len(schemas) // 30)][:30]
    for i, schema in enumerate(picked):
        choices = bytes(rng.integers(0, 256, size=200, dtype=np.uint8))
        write("schema", f"fixture-{i:02d}", schema.encode() + SEP + choices, 8 << 10)
    write("schema", "json-object", SEP + bytes(range(0, 200)), 8 << 10)
    write("schema", "one-of", json.dumps({"oneOf": [{"type": "string"}, {"type": "integer"}, {"enum": [1.5, True]},
                                                  {"$ref": "#/$defs/n"}], "$defs": {"n": {"type": "null"}}}).encode()
          + SEP + bytes(range(10, 210)), 8 << 10)
    write("schema", "defs", json.dumps({"type": "object", "properties": {"a": {"$ref": "#/$defs/n"},
                                                                          "b": {"enum": ["x", 1, None]}},
                                        "$defs": {"n": {"type": ["integer", "null"]}}}).encode() + SEP + bytes(range(50, 250)), 8 << 10)
    write("schema", "lengths", json.dumps({"type": "object", "properties": {
        "code": {"type": "string", "minLength": 3, "maxLength": 5}, "tag": {"maxLength": 1},
        "note": {"allOf": [{"type": "string", "minLength": 2}, {"maxLength": 9}]}},
        "required": ["code", "tag"]}).encode() + SEP + bytes(range(40, 240)), 8 << 10)
    write("schema", "bounds", json.dumps({"type": "array", "items": {"anyOf": [
        {"type": "integer", "minimum": -5, "exclusiveMaximum": 120}, {"type": ["integer", "null"], "minimum": 1000},
        {"type": "integer", "minimum": 0, "exclusiveMinimum": True, "maximum": 3}]}}).encode()
          + SEP + bytes(range(30, 230)), 8 << 10)


def main():
    sys.path.insert(0, ROOT)
    gguf_seeds()
    safetensors_seeds()
    model_folder_seeds()
    json_seeds()
    jinja_seeds()
    tokenizer_seeds()
    schema_seeds()
    for target in sorted(os.listdir(CORPUS)):
        print(f"{target}: {len(os.listdir(os.path.join(CORPUS, target)))} inputs")


if __name__ == "__main__":
    main()
