"""Starting ModelHost's and llama-cpp-python's servers for the benchmarks in this folder, and one streaming client."""
import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/v1/models")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not become ready")


# The model id stream_chat asks for unless told: "default" names the default model on ModelHost (and whatever model
# llama-cpp-python's server has); a benchmark of another file sets its catalog id (`catalog_id`).
MODEL_ID = "default"


def catalog_id(path):
    """ModelHost's id for a GGUF file in its models directory: the file name without `.gguf`."""
    name = os.path.basename(path)
    return name[:-5] if name.endswith(".gguf") else name


def stream_chat(port, messages, max_tokens, logit_bias=None, model=None, extra=None):
    """One streaming chat request: (start, first content, end) times and the number of generated tokens (from the
    usage chunk when the server sends one, else one per content chunk)."""
    body = {"model": model or MODEL_ID, "messages": messages, "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    if logit_bias:
        body["logit_bias"] = logit_bias
    body.update(extra or {})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {response.read()[:300]!r}")
    first, chunks, usage = None, [], None
    while True:
        line = response.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data: "):
            continue
        data = line[6:]
        if data == b"[DONE]":
            break
        event = json.loads(data)
        if "error" in event:
            raise RuntimeError(str(event["error"]))
        if event.get("usage"):
            usage = event["usage"]["completion_tokens"]
        for choice in event.get("choices", []):
            if choice.get("delta", {}).get("content"):
                chunks.append(choice["delta"]["content"])
                if first is None:
                    first = time.perf_counter()
    end = time.perf_counter()
    conn.close()
    return start, first, end, usage if usage is not None else len(chunks)



@contextlib.contextmanager
def modelhost_server(model, extra_env=None):
    """`modelhost serve` (release build) on `model`, on free ports; yields the API port."""
    build = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.strip()
    port, admin = free_port(), free_port()
    work = tempfile.mkdtemp(prefix="mh-bench-")
    os.makedirs(f"{work}/models")
    os.symlink(os.path.realpath(model), f"{work}/models/{os.path.basename(model)}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELHOST_", "MLX_"))}
    env.update(extra_env or {})
    proc = subprocess.Popen([f"{build}/modelhost", "serve", "--port", str(port), "--admin-port", str(admin),
                             "--models-dir", f"{work}/models", "--state-dir", f"{work}/state"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def llama_cpp_server(model, threads):
    """llama-cpp-python's OpenAI-compatible server on `model`; yields its port."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", model, "--port", str(port),
                             "--n_threads", str(threads), "--n_threads_batch", str(threads), "--n_ctx", "8192",
                             "--verbose", "false"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
