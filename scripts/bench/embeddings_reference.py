#!/usr/bin/env python3
"""Sentence-embedding throughput of ModelHost's /v1/embeddings beside onnxruntime on the CPU, on the same model and
the same sentences, measured in the same run, interleaved; and an independent check of the numpy reference.

The onnxruntime side is an ONNX graph of the BERT encoder built here with onnx.helper straight from model.safetensors
and config.json (no PyTorch, no exporter): Gather embeddings (word, position, token type), LayerNormalization, per
layer MatMul/Add projections, multi-head attention with the padding mask (Reshape/Transpose/MatMul/Softmax),
Erf-based GELU, residuals and LayerNormalization; then masked mean (or CLS) pooling and L2 normalisation, as
modules.json says. onnxruntime (CPUExecutionProvider, all graph optimisations, intra_op_num_threads 1 and 2) runs it
after Hugging Face `tokenizers` (one thread) has tokenized each batch, padded to its longest sentence and truncated at
max_seq_length: what sentence-transformers' `encode` does per batch, in process.

Printed:
  - the graph's embeddings of the 200 fixture sentences beside the float64 numpy reference
    (Tests/ServingTests/Fixtures/minilm_reference.json, scripts/fixtures/bert_reference.py): max cosine distance
    and max |difference|, and whether the token ids agree;
  - with --server: ModelHost's embeddings of the same 200 sentences beside the reference (its correctness), and the
    usage.prompt_tokens it reports beside the tokenizer's count;
  - sentences/s at batch 1 and 32 for each backend and thread count, the median over --rounds rounds, every round
    running each configuration once over the same sentence list (the order reversed every other round, so machine
    noise falls on both backends), and the ratio ModelHost / onnxruntime at the same batch size.

ModelHost is driven as an OpenAI client would: POST {server}/v1/embeddings {"model": M, "input": [the batch's
strings], "encoding_format": "float"} on one keep-alive connection, one request per batch; its figure includes HTTP
and JSON on both sides (the client-side parse time is printed). The official `openai` Python client asks for
"base64" unless told otherwise: --encoding-format base64 measures that. With --clients N, ModelHost is also timed
with N clients sending the same batches at once (the worker batches their inputs together), each on its own
connection: how a server is used by several callers, beside onnxruntime's in-process loop.

The sentence list (--set): "bench" (default), 256 typical sentences of 8-30 words generated deterministically here;
"fixture", the 200 fixture sentences (short inputs to ~210-token paragraphs, many languages).

Usage: scripts/setup --bench   (or: pip install numpy safetensors tokenizers onnx onnxruntime)
       python3 scripts/bench/embeddings_reference.py [--threads 1,2] [--batches 1,32] [--rounds 5]
           [--server http://127.0.0.1:11440 --model sentence-transformers/all-MiniLM-L6-v2 [--clients 8]]
           [--save-onnx PATH]
"""
import argparse
import concurrent.futures
import base64
import http.client
import json
import math
import os
import random
import statistics
import sys
import threading
import time
import urllib.parse

os.environ["RAYON_NUM_THREADS"] = "1"          # HF tokenizers: one thread, whatever onnxruntime's count
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "fixtures"))
import bert_reference as ref  # noqa: E402

OPSET = 17   # LayerNormalization is in the default domain from 17


# ---------------------------------------------------------------------------------------------------------------
# The ONNX graph


def build_graph(encoder):
    """A ModelProto computing normalised sentence embeddings [batch, D] from input_ids, attention_mask and
    token_type_ids (int64 [batch, seq])."""
    if encoder.position_offset:
        raise NotImplementedError("RoBERTa-style position ids")
    unsupported = set(encoder.pooling) - {"mean", "cls"}
    if unsupported:
        raise NotImplementedError(f"pooling {sorted(unsupported)} in the ONNX graph")
    nodes, inits = [], []
    counter = [0]

    def name(hint):
        counter[0] += 1
        return f"{hint}_{counter[0]}"

    def const(hint, array):
        n = name(hint)
        inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n

    def node(op, inputs, hint=None, **attrs):
        out = name(hint or op.lower())
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    w = lambda key: encoder.weights[key].astype(np.float32)  # noqa: E731
    hidden, heads = encoder.hidden, encoder.heads
    head_dim = hidden // heads
    eps = float(encoder.eps)

    def linear(x, prefix):
        wt = const(prefix + ".weight_t", np.ascontiguousarray(w(prefix + ".weight").T))
        return node("Add", [node("MatMul", [x, wt]), const(prefix + ".bias", w(prefix + ".bias"))])

    def layer_norm(x, prefix):
        return node("LayerNormalization", [x, const(prefix + ".weight", w(prefix + ".weight")),
                                           const(prefix + ".bias", w(prefix + ".bias"))], axis=-1, epsilon=eps)

    # Embeddings: word[ids] + position[0..seq) + token_type[type_ids], LayerNorm.
    seq = node("Gather", [node("Shape", ["input_ids"]), const("one", np.array(1, np.int64))], axis=0)
    positions = node("Range", [const("zero", np.array(0, np.int64)), seq, const("step", np.array(1, np.int64))])
    x = node("Add", [
        node("Add", [node("Gather", [const("word_embeddings", w("embeddings.word_embeddings.weight")), "input_ids"]),
                     node("Gather", [const("position_embeddings", w("embeddings.position_embeddings.weight")),
                                     positions])]),
        node("Gather", [const("token_type_embeddings", w("embeddings.token_type_embeddings.weight")),
                        "token_type_ids"])])
    x = layer_norm(x, "embeddings.LayerNorm")

    # Additive attention mask [batch, 1, 1, seq]: 0 for tokens, float32's lowest for padding (as transformers does).
    mask_f = node("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    additive = node("Mul", [node("Sub", [const("one_f", np.array(1.0, np.float32)), mask_f]),
                            const("lowest", np.array(np.finfo(np.float32).min, np.float32))])
    additive = node("Unsqueeze", [additive, const("axes12", np.array([1, 2], np.int64))])

    split_shape = const("split_shape", np.array([0, 0, heads, head_dim], np.int64))
    merge_shape = const("merge_shape", np.array([0, 0, hidden], np.int64))
    scale = const("scale", np.array(1.0 / math.sqrt(head_dim), np.float32))
    sqrt2 = const("sqrt2", np.array(math.sqrt(2.0), np.float32))
    half = const("half", np.array(0.5, np.float32))
    one_f = const("one_f", np.array(1.0, np.float32))
    for layer in range(encoder.layers):
        p = f"encoder.layer.{layer}."
        q = node("Transpose", [node("Reshape", [linear(x, p + "attention.self.query"), split_shape])],
                 perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [linear(x, p + "attention.self.key"), split_shape])],
                 perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [linear(x, p + "attention.self.value"), split_shape])],
                 perm=[0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k]), scale]), additive])
        context = node("MatMul", [node("Softmax", [scores], axis=-1), v])
        context = node("Reshape", [node("Transpose", [context], perm=[0, 2, 1, 3]), merge_shape])
        x = layer_norm(node("Add", [linear(context, p + "attention.output.dense"), x]),
                       p + "attention.output.LayerNorm")
        h = linear(x, p + "intermediate.dense")
        if encoder.act != "gelu":
            raise NotImplementedError(f"hidden_act {encoder.act} in the ONNX graph")
        h = node("Mul", [node("Mul", [h, node("Add", [node("Erf", [node("Div", [h, sqrt2])]), one_f])]), half])
        x = layer_norm(node("Add", [linear(h, p + "output.dense"), x]), p + "output.LayerNorm")

    # Pooling (sentence-transformers' order), then L2 normalisation.
    parts = []
    for mode in encoder.pooling:
        if mode == "cls":
            parts.append(node("Gather", [x, const("zero", np.array(0, np.int64))], axis=1))
        else:
            m3 = node("Unsqueeze", [mask_f, const("axis2", np.array([2], np.int64))])
            axis1 = const("axis1", np.array([1], np.int64))
            total = node("ReduceSum", [node("Mul", [x, m3]), axis1], keepdims=0)
            count = node("Max", [node("ReduceSum", [m3, axis1], keepdims=0),
                                 const("tiny", np.array(1e-9, np.float32))])
            parts.append(node("Div", [total, count]))
    pooled = parts[0] if len(parts) == 1 else node("Concat", parts, axis=1)
    if encoder.normalize:
        norm = node("Max", [node("ReduceL2", [pooled], axes=[1], keepdims=1),
                            const("eps12", np.array(1e-12, np.float32))])
        pooled = node("Div", [pooled, norm])
    nodes.append(helper.make_node("Identity", [pooled], ["sentence_embedding"]))

    dims = ["batch", "sequence"]
    graph = helper.make_graph(
        nodes, f"{encoder.name}_sentence_embedding",
        [helper.make_tensor_value_info(n, TensorProto.INT64, dims)
         for n in ("input_ids", "attention_mask", "token_type_ids")],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT,
                                       ["batch", len(encoder.pooling) * hidden])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="scripts/bench/embeddings_reference.py")
    model.ir_version = 8   # any onnxruntime from 1.10 on
    onnx.checker.check_model(model)
    return model


class OnnxBackend:
    """Tokenize (one thread, pad to the batch's longest, truncate at max_seq_length) and run the graph."""

    def __init__(self, encoder, model_bytes, threads):
        self.threads = threads
        self.tokenizer = Tokenizer.from_file(os.path.join(encoder.folder, "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=encoder.max_seq_length)
        pad_id = encoder.config.get("pad_token_id") or 0
        self.tokenizer.enable_padding(pad_id=pad_id, pad_token=self.tokenizer.id_to_token(pad_id))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])

    def encode(self, texts):
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=True)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return self.session.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask,
                                                         "token_type_ids": np.zeros_like(ids)})[0]

    def encode_ids(self, batch_ids):
        """The graph on given token ids (padded here), for the check against the reference."""
        length = max(len(row) for row in batch_ids)
        ids = np.zeros((len(batch_ids), length), np.int64)
        mask = np.zeros_like(ids)
        for b, row in enumerate(batch_ids):
            ids[b, :len(row)] = row
            mask[b, :len(row)] = 1
        return self.session.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask,
                                                         "token_type_ids": np.zeros_like(ids)})[0]


# ---------------------------------------------------------------------------------------------------------------
# ModelHost over HTTP (the OpenAI embeddings API)


class ServerBackend:
    def __init__(self, url, model, encoding_format, api_key=None, timeout=300):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"--server wants http(s)://host:port, not {url!r}")
        self.scheme, self.host = parsed.scheme, parsed.hostname
        self.port = parsed.port or (443 if parsed.scheme == "https" else 80)
        base = parsed.path.rstrip("/")
        self.path = base + ("/embeddings" if base.endswith("/v1") else "/v1/embeddings")
        self.model, self.encoding_format, self.timeout = model, encoding_format, timeout
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.connection = None
        self.parse_seconds = 0.0      # client-side JSON decoding and conversion, summed
        self.last_usage = None

    def _connect(self):
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        self.connection = cls(self.host, self.port, timeout=self.timeout)

    def _post(self, body):
        for attempt in (0, 1):          # one reconnect: the server may have closed an idle keep-alive connection
            if self.connection is None:
                self._connect()
            try:
                self.connection.request("POST", self.path, body=body, headers=self.headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.connection.close()
                self.connection = None
                if attempt:
                    raise

    def encode(self, texts):
        body = json.dumps({"model": self.model, "input": list(texts),
                           "encoding_format": self.encoding_format}).encode("utf-8")
        status, payload = self._post(body)
        start = time.perf_counter()
        if status != 200:
            raise RuntimeError(f"POST {self.path}: HTTP {status}: {payload[:500].decode('utf-8', 'replace')}")
        answer = json.loads(payload)
        data = sorted(answer["data"], key=lambda item: item["index"])
        if [item["index"] for item in data] != list(range(len(texts))):
            raise RuntimeError(f"expected indices 0..{len(texts) - 1}, got {[item['index'] for item in data]}")
        if self.encoding_format == "base64":
            out = np.stack([np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4") for item in data])
        else:
            out = np.array([item["embedding"] for item in data], dtype=np.float32)
        self.last_usage = answer.get("usage")
        self.parse_seconds += time.perf_counter() - start
        return out


# ---------------------------------------------------------------------------------------------------------------
# Sentences


def bench_sentences(count=256, seed=20240517):
    """`count` ordinary English sentences of 8-30 words (deterministic): the typical search/RAG query or chunk title
    an embedding endpoint sees."""
    rng = random.Random(seed)
    subjects = ["the new manager", "my neighbour", "our team", "the city council", "a young engineer", "the teacher",
                "the delivery driver", "most customers", "the research group", "her brother", "the old bakery",
                "the mobile app", "this laptop", "the local library", "the football club", "a small startup"]
    verbs = ["announced", "reviewed", "repaired", "ignored", "celebrated", "postponed", "described", "improved",
             "cancelled", "recommended", "explained", "criticised", "ordered", "tested", "designed", "finished"]
    objects = ["the annual budget", "a faster train connection", "the broken heating system", "a recipe for apple pie",
               "the results of the survey", "a cheaper insurance plan", "the summer festival", "a new privacy policy",
               "the school timetable", "an electric bicycle", "the quarterly sales report", "a guided mountain hike",
               "the software update", "a community garden", "the museum exhibition", "a language course"]
    tails = ["after a long discussion", "on Monday morning", "despite the heavy rain", "without telling anyone",
             "because prices kept rising", "before the deadline", "in front of the whole office",
             "with surprising enthusiasm", "for the third time this year", "while everyone was on holiday",
             "near the central station", "to reduce waiting times"]
    clauses = ["and people seemed quite happy about it", "although nobody really understood why",
               "so the meeting ended earlier than planned", "which surprised many of the visitors",
               "but the reaction online was mixed", "and the local newspaper wrote a long article about it",
               "even though the weather forecast looked terrible", "because it saves time and money",
               "so we will probably try it again next month", "while the rest of the group waited outside"]
    questions = ["how do I {v} {o}", "what is the best way to find {o}", "where can I learn more about {o}",
                 "why did {s} decide to change {o}", "can anyone recommend {o} near me"]
    out = set()
    while len(out) < count:
        if rng.random() < 0.2:
            text = rng.choice(questions).format(v=rng.choice(["choose", "compare", "cancel", "set up"]),
                                                o=rng.choice(objects), s=rng.choice(subjects))
            if rng.random() < 0.5:
                text += " " + rng.choice(tails)
            text = text[0].upper() + text[1:] + "?"
        else:
            parts = [rng.choice(subjects), rng.choice(verbs), rng.choice(objects)]
            if rng.random() < 0.7:
                parts.append(rng.choice(tails))
            if rng.random() < 0.6:
                parts.append(rng.choice(clauses))
            text = " ".join(parts)
            text = text[0].upper() + text[1:] + "."
        if 8 <= len(text.split()) <= 30:
            out.add(text)
    out = sorted(out)       # a set's order depends on the hash seed: sort, then a seeded shuffle
    rng.shuffle(out)
    return out


def load_reference(encoder, path):
    """(texts, ids, float64 embeddings) of the fixture, or computed by bert_reference when it is absent."""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            fixture = json.load(f)
        sentences = fixture["sentences"]
        return ([s["text"] for s in sentences], [s["ids"] for s in sentences],
                np.array([s["embedding"] for s in sentences], dtype=np.float64), os.path.relpath(path, ROOT))
    texts = ref.corpus()[0]
    ids = encoder.tokenize(texts)
    return texts, ids, encoder.embed(ids, np.float64), "bert_reference.py, computed now (no fixture)"


def compare(label, got, want):
    distance = ref.cosine_distance(np.asarray(got, np.float64), want)
    print(f"{label}: max cosine distance {distance.max():.3e} (sentence {int(distance.argmax())}), "
          f"mean {distance.mean():.3e}, max |difference| {np.abs(got - want).max():.3e}")
    return distance.max()


def run_pass(backend, sentences, batch):
    for start in range(0, len(sentences), batch):
        backend.encode(sentences[start:start + batch])


class ConcurrentClients:
    """`count` clients sending the same batches to the server at once, each over its own connection: how a server
    is used by several callers (a RAG indexer's workers, concurrent users), which the server may batch together."""

    def __init__(self, make_backend, count):
        self.clients = [make_backend() for _ in range(count)]
        self.pool = concurrent.futures.ThreadPoolExecutor(count)
        self.parse_seconds = 0.0

    def run(self, sentences, batch):
        chunks = [sentences[start:start + batch] for start in range(0, len(sentences), batch)]
        queue = list(reversed(chunks))
        lock = threading.Lock()

        def work(client):
            while True:
                with lock:
                    if not queue:
                        return
                    chunk = queue.pop()
                client.encode(chunk)

        list(self.pool.map(work, self.clients))
        self.parse_seconds = sum(c.parse_seconds for c in self.clients)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", default=ref.DEFAULT_MODEL_DIR)
    parser.add_argument("--reference", default=ref.DEFAULT_OUT, help="the fixture written by bert_reference.py")
    parser.add_argument("--set", choices=["bench", "fixture"], default="bench", help="the sentences timed")
    parser.add_argument("--threads", default="1,2", help="onnxruntime intra_op_num_threads values")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--server", help="ModelHost's base URL, e.g. http://127.0.0.1:11440")
    parser.add_argument("--model", default=None, help="the model name sent to the server (default: the folder's)")
    parser.add_argument("--server-threads", default="server", help="a label for the ModelHost rows' threads")
    parser.add_argument("--encoding-format", choices=["float", "base64"], default="float")
    parser.add_argument("--api-key", default=os.environ.get("MODELHOST_API_KEY"))
    parser.add_argument("--save-onnx", help="also write the graph to this .onnx file")
    parser.add_argument("--clients", type=int, default=0,
                        help="also time ModelHost with this many concurrent clients (each sending the batch size)")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    batches = [int(b) for b in args.batches.split(",")]

    encoder = ref.Encoder(args.model_dir)
    print(f"onnxruntime {ort.__version__}, onnx {onnx.__version__}, numpy {np.__version__}; "
          f"{os.cpu_count()} logical CPUs")
    model = build_graph(encoder)
    model_bytes = model.SerializeToString()
    if args.save_onnx:
        with open(args.save_onnx, "wb") as f:
            f.write(model_bytes)
    backends = {t: OnnxBackend(encoder, model_bytes, t) for t in threads}

    # The graph against the float64 numpy reference (an independent implementation of the same model).
    texts, ids, reference, source = load_reference(encoder, args.reference)
    print(f"reference: {source}, {len(texts)} sentences")
    same_ids = encoder.tokenize(texts) == ids
    print(f"tokenizers ids equal the reference's: {same_ids}")
    first = backends[threads[0]]
    compare("onnxruntime (float32) vs numpy float64, padded batches of 16",
            np.concatenate([first.encode_ids(ids[i:i + 16]) for i in range(0, len(ids), 16)]), reference)
    compare("onnxruntime (float32) vs numpy float64, one sentence per run",
            np.concatenate([first.encode_ids([row]) for row in ids]), reference)
    compare("onnxruntime from text (its own tokenization, batches of 32) vs numpy float64",
            np.concatenate([first.encode(texts[i:i + 32]) for i in range(0, len(texts), 32)]), reference)

    server = None
    if args.server:
        server = ServerBackend(args.server, args.model or encoder.name, args.encoding_format, args.api_key)
        got, tokens = [], 0
        try:
            for start in range(0, len(texts), 32):
                got.append(server.encode(texts[start:start + 32]))
                tokens += (server.last_usage or {}).get("prompt_tokens", 0)
        except (OSError, RuntimeError) as error:
            sys.exit(f"error: ModelHost at {args.server}: {error}")
        got = np.concatenate(got)
        if got.shape != reference.shape:
            sys.exit(f"error: ModelHost returned embeddings of shape {got.shape}, expected {reference.shape}")
        compare(f"ModelHost ({args.encoding_format}) vs numpy float64, batches of 32", got, reference)
        print(f"ModelHost usage.prompt_tokens: {tokens}; tokenizer count with [CLS]/[SEP]: "
              f"{sum(len(row) for row in ids)}")

    # Throughput.
    sentences = bench_sentences() if args.set == "bench" else texts
    lengths = [len(row) for row in encoder.tokenize(sentences)]
    for batch in batches:
        padded = sum(len(sentences[i:i + batch]) * max(lengths[i:i + batch]) for i in range(0, len(lengths), batch))
        print(f"batch {batch}: {padded} token positions per pass, {sum(lengths) / padded:.0%} of them real")
    print(f"timed set '{args.set}': {len(sentences)} sentences, tokens each: min {min(lengths)}, median "
          f"{statistics.median(lengths):g}, max {max(lengths)}; {args.rounds} rounds, interleaved")
    configs = []
    crowd = None
    if server and args.clients > 1:
        crowd = ConcurrentClients(lambda: ServerBackend(args.server, args.model or encoder.name, args.encoding_format,
                                                        args.api_key), args.clients)
    for batch in batches:
        configs += [("onnxruntime", str(t), batch, backends[t]) for t in threads]
        if server:
            configs.append(("ModelHost", args.server_threads, batch, server))
        if crowd:
            configs.append((f"ModelHost x{args.clients}", args.server_threads, batch, crowd))

    def timed(backend, batch):
        if isinstance(backend, ConcurrentClients):
            backend.run(sentences, batch)
        else:
            run_pass(backend, sentences, batch)

    for config in configs:                       # warm-up: one untimed pass each
        timed(config[3], config[2])
    rates = {config[:3]: [] for config in configs}
    parse = {batch: 0.0 for batch in batches}
    for round_index in range(args.rounds):
        for backend_name, label, batch, backend in (configs if round_index % 2 == 0 else configs[::-1]):
            before = server.parse_seconds if server else 0.0
            start = time.perf_counter()
            timed(backend, batch)
            elapsed = time.perf_counter() - start
            rates[(backend_name, label, batch)].append(len(sentences) / elapsed)
            if backend is server:
                parse[batch] += (server.parse_seconds - before) / elapsed / args.rounds

    print()
    print(f"{'backend':<12} {'threads':>7} {'batch':>5} {'sentences/s':>12} {'range':>17}   ModelHost/onnxruntime")
    for backend_name, label, batch, _ in configs:
        values = rates[(backend_name, label, batch)]
        median = statistics.median(values)
        line = (f"{backend_name:<12} {label:>7} {batch:>5} {median:>12.1f} "
                f"{f'{min(values):.1f}-{max(values):.1f}':>17}")
        if backend_name.startswith("ModelHost"):
            ratios = [f"{median / statistics.median(rates[('onnxruntime', str(t), batch)]):.2f} vs {t} thread"
                      + ("s" if t > 1 else "") for t in threads]
            line += "   " + ", ".join(ratios)
        print(line)
    if server:
        print("ModelHost figures include HTTP and JSON; client-side parsing took "
              + ", ".join(f"{share:.0%} of the time at batch {batch}" for batch, share in parse.items()))


if __name__ == "__main__":
    main()
