#!/usr/bin/env python3
"""End-to-end checks of /v1/embeddings on a running `modelhost serve` with the real all-MiniLM-L6-v2 weights, driven
by the official `openai` Python package. Run by Tests/ServingTests/EmbeddingServingTests.swift, which starts the
server; prints one line per check and exits 1 if any failed.

The reference is Tests/ServingTests/Fixtures/minilm_reference.json, written by scripts/fixtures/bert_reference.py: a
float64 numpy forward pass of the same weights over 200 varied sentences, tokenized by Hugging Face `tokenizers`.

    python3 openai_embeddings_checks.py --base-url http://127.0.0.1:PORT/v1 --api-key KEY \
        --model sentence-transformers/all-MiniLM-L6-v2 --chat-model default --reference minilm_reference.json
"""
import argparse
import base64
import concurrent.futures
import json
import sys
import traceback

import numpy as np
import openai
from openai import OpenAI

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def cosine(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


class Context:
    def __init__(self, args):
        self.client = OpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0, timeout=300)
        self.model = args.model
        self.chat_model = args.chat_model
        with open(args.reference) as f:
            self.reference = json.load(f)
        self.sentences = self.reference["sentences"]
        self._all = None

    def embed(self, inputs, **kwargs):
        return self.client.embeddings.create(model=self.model, input=inputs, **kwargs)

    def all_texts(self):
        """The 200 reference sentences in one request (cached: several checks compare against it)."""
        if self._all is None:
            self._all = self.embed([s["text"] for s in self.sentences])
        return self._all

    def bad_request(self, fn, needle, param=None):
        try:
            fn()
        except openai.BadRequestError as error:
            body = error.body if isinstance(error.body, dict) else {}
            message = body.get("message", str(error))
            expect(needle in message, f"400 message {message!r} lacks {needle!r}")
            if param is not None:
                expect(body.get("param") == param, f"400 param {body.get('param')!r} != {param!r}")
            return
        raise AssertionError(f"expected a 400 mentioning {needle!r}")


@check
def models_list_shows_the_embedding_model(c):
    models = {m.id: m for m in c.client.models.list().data}
    expect(c.model in models, f"{c.model} not in {sorted(models)}")
    extra = models[c.model].model_extra or {}
    expect(extra.get("kind") == "embedding", f"kind {extra.get('kind')!r}")
    expect(extra.get("embedding_dimension") == 384, f"embedding_dimension {extra.get('embedding_dimension')!r}")
    chat = c.client.models.retrieve(c.chat_model)  # "default" is an alias: the list names the model itself
    expect((chat.model_extra or {}).get("kind") == "generation", "the chat model's kind")


@check
def vectors_match_the_float64_reference(c):
    r = c.all_texts()
    expect(len(r.data) == len(c.sentences), f"{len(r.data)} vectors for {len(c.sentences)} inputs")
    expect([d.index for d in r.data] == list(range(len(c.sentences))), "indices are in input order")
    worst, worst_index = 0.0, -1
    for i, (d, s) in enumerate(zip(r.data, c.sentences)):
        expect(len(d.embedding) == 384, f"vector {i} has {len(d.embedding)} values")
        distance = 1 - cosine(d.embedding, s["embedding"])
        if distance > worst:
            worst, worst_index = distance, i
    print(f"     max cosine distance to the float64 reference over {len(c.sentences)} sentences: {worst:.3e}")
    expect(worst <= 1e-4, f"sentence {worst_index} ({c.sentences[worst_index]['text'][:60]!r}) is {worst:.3e} away")
    expected_tokens = sum(len(s["ids"]) for s in c.sentences)
    expect(r.usage.prompt_tokens == expected_tokens,
           f"usage.prompt_tokens {r.usage.prompt_tokens} != HF tokenizers' {expected_tokens}")
    expect(r.usage.total_tokens == r.usage.prompt_tokens, "total_tokens == prompt_tokens")
    norms = [np.linalg.norm(d.embedding) for d in r.data]
    expect(max(abs(n - 1) for n in norms) < 1e-5, "the model's Normalize module gives unit vectors")


@check
def token_id_inputs_equal_text_inputs(c):
    picks = [0, 7, 42, 150]
    by_text = c.embed([c.sentences[i]["text"] for i in picks])
    by_ids = c.embed([c.sentences[i]["ids"] for i in picks])
    for a, b in zip(by_text.data, by_ids.data):
        expect(a.embedding == b.embedding, "token ids and their text give the same vector")
    one = c.embed(c.sentences[3]["ids"])  # a single list of ids is one input
    expect(len(one.data) == 1 and one.data[0].embedding == c.all_texts().data[3].embedding, "one list of ids")


@check
def paraphrases_score_higher_than_unrelated_pairs(c):
    vectors = [d.embedding for d in c.all_texts().data]
    para = [cosine(vectors[i], vectors[j]) for i, j in c.reference["paraphrase_pairs"]]
    unrelated = [cosine(vectors[i], vectors[j]) for i, j in c.reference["unrelated_pairs"]]
    print(f"     paraphrases: min {min(para):.3f} mean {np.mean(para):.3f}; "
          f"unrelated: max {max(unrelated):.3f} mean {np.mean(unrelated):.3f}")
    for (i, j), p, (k, l), u in zip(c.reference["paraphrase_pairs"], para, c.reference["unrelated_pairs"], unrelated):
        expect(p > u, f"paraphrase ({i},{j}) scores {p:.3f}, not above unrelated ({k},{l}) {u:.3f}")
    expect(min(para) > max(unrelated), f"min paraphrase {min(para):.3f} <= max unrelated {max(unrelated):.3f}")


@check
def base64_equals_float(c):
    texts = [s["text"] for s in c.sentences[:5]]
    floats = c.embed(texts, encoding_format="float")
    encoded = c.embed(texts, encoding_format="base64")
    for f, e in zip(floats.data, encoded.data):
        expect(isinstance(e.embedding, str), f"base64 gives a string, got {type(e.embedding)}")
        decoded = np.frombuffer(base64.b64decode(e.embedding), dtype="<f4")
        expect(decoded.tolist() == np.asarray(f.embedding, dtype=np.float32).tolist(),
               "base64 decodes to the float answer bit for bit")


@check
def a_vector_does_not_depend_on_its_batch_or_concurrent_clients(c):
    whole = c.all_texts()
    picks = [1, 50, 120, 199]
    for i in picks:
        alone = c.embed(c.sentences[i]["text"])
        expect(alone.data[0].embedding == whole.data[i].embedding, f"sentence {i} alone differs from its batched vector")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        jobs = [pool.submit(c.embed, [c.sentences[i]["text"] for i in range(k, 200, 8)]) for k in range(8)]
        for k, job in enumerate(jobs):
            for position, d in enumerate(job.result().data):
                i = k + 8 * position
                expect(d.embedding == whole.data[i].embedding, f"sentence {i} differs when clients share batches")


@check
def bad_requests_name_the_field(c):
    c.bad_request(lambda: c.embed("hello", dimensions=128), "cannot shorten", param="dimensions")
    c.bad_request(lambda: c.embed(""), "empty", param="input")
    c.bad_request(lambda: c.embed(["fine", ""]), "empty", param="input[1]")
    c.bad_request(lambda: c.embed([[101, 999999, 102]]), "input[0][1]", param="input")
    long_text = "word " * 600
    c.bad_request(lambda: c.embed(["short", long_text]), "input[1] has", param="input")
    c.bad_request(lambda: c.client.embeddings.create(model=c.chat_model, input="hi"), "generates text", param="model")
    c.bad_request(lambda: c.client.chat.completions.create(
        model=c.model, messages=[{"role": "user", "content": "hi"}]), "embedding model", param="model")
    c.bad_request(lambda: c.embed("hi", extra_body={"pooling": "cls"}), "pooling")


@check
def truncate_cuts_to_the_context_keeping_the_closing_token(c):
    long_text = "word " * 600
    r = c.embed([long_text], extra_body={"truncate": True})
    expect(r.usage.prompt_tokens == 256, f"truncated to {r.usage.prompt_tokens} tokens, the context is 256")
    again = c.embed([long_text + "and more words at the end"], extra_body={"truncate": True})
    expect(again.data[0].embedding == r.data[0].embedding, "what lies past the context does not change the vector")
    expect(c.embed("hello", dimensions=384).data[0].embedding == c.embed("hello").data[0].embedding,
           "dimensions equal to the model's own are accepted")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", default="unused")
    parser.add_argument("--model", required=True)
    parser.add_argument("--chat-model", default="default")
    parser.add_argument("--reference", required=True)
    parser.add_argument("--only", default=None)
    args = parser.parse_args()
    context = Context(args)
    failed = 0
    ran = 0
    for fn in CHECKS:
        if args.only and args.only not in fn.__name__:
            continue
        ran += 1
        try:
            fn(context)
            print(f"ok   {fn.__name__}", flush=True)
        except Exception:
            failed += 1
            print(f"FAIL {fn.__name__}\n{traceback.format_exc()}", flush=True)
    print(f"{ran - failed} checks passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
