#!/usr/bin/env python3
"""Replicas behind a real load balancer: three `modelhost serve` processes, each bound to its own loopback address
(127.0.0.2, .3, .4) with its own state directory, and HAProxy (Debian's package) in front, configured by
`deploy/haproxy/make-config` exactly as deploy/README.md tells an operator to. Traffic only ever goes to the loopback
range. Three measurements, printed as figures:

  failover   16 concurrent clients (streamed and whole answers, a conversation key each); one replica is killed
             with SIGKILL mid-load. Requests that had not started streaming must all succeed (on another replica);
             streams the killed replica was serving must end with an error (a broken transfer), never hang.
  rolling    the same load while each replica in turn gets SIGTERM (it drains: /ready 503, running requests finish)
             and is started again once it has exited: zero failed requests.
  hashing    the conversation key's routing, on cheap requests: each key of 300 (X-Session-Id) always reaches the
             same replica, the Authorization header works as a key, requests without a key spread round robin,
             and adding a fourth replica moves only the keys it takes over (about a quarter, all to it).
  affinity   10-turn conversations, one turn at a time, through the balancer with conversation affinity
             (prompt_cache_key) and then with plain round robin: time to first token per turn and each mode's prefix
             cache hit rate (the replicas' modelhost_prefix_cache_hits_total and cached_prompt_tokens_total).

Exits non-zero when a criterion fails: a failed request that had not started streaming, a hung stream, a failed
request during the rolling restart, or turn 10's time to first token with affinity not at least --min-ratio (5)
times lower than with round robin.

Usage: scripts/bench/replicas.py [--modelhost .build/release/modelhost] [--model models/...gguf]
                                 [--phases hashing,failover,rolling,affinity] [--keep]
Needs: haproxy on PATH (scripts/setup installs it), a release build (scripts/build).
"""
import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
EXTRA_ADDRESS = "127.0.0.5"   # the fourth replica of the hashing phase
END_TOKENS_BANNED = {"0": -100, "2": -100}   # SmolLM2's <|endoftext|> and <|im_end|>: answers of a fixed length


def log(message):
    print(message, flush=True)


def free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def http_get(host, port, path, timeout=3):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class Replica:
    """One `modelhost serve` on its own loopback address, state directory and log."""

    def __init__(self, name, address, port, binary, models, work):
        self.name, self.address, self.port = name, address, port
        self.admin_port = free_port(address)
        self.binary, self.models = binary, models
        self.state = os.path.join(work, f"state-{name}")
        self.log_path = os.path.join(work, f"{name}.log")
        self.process = None

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELHOST_", "MLX_"))}
        env["MODELHOST_SHUTDOWN_GRACE"] = "30"
        log_file = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [self.binary, "serve", "--host", self.address, "--port", str(self.port), "--admin-host", self.address,
             "--admin-port", str(self.admin_port), "--models-dir", self.models, "--state-dir", self.state],
            stdout=log_file, stderr=subprocess.STDOUT, env=env)
        log_file.close()
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"replica {self.name} exited at start:\n{self.tail()}")
            try:
                if http_get(self.address, self.port, "/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"replica {self.name} did not become ready:\n{self.tail()}")

    def warm(self):
        """Loads the model (the first request does), so that no measurement includes a load."""
        status, _ = post_json(self.address, self.port, "/v1/chat/completions", {
            "model": "default", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2})
        if status != 200:
            raise RuntimeError(f"replica {self.name} could not answer: HTTP {status}\n{self.tail()}")

    def metrics(self):
        _, body = http_get(self.address, self.admin_port, "/metrics")
        values = {}
        for line in body.decode().splitlines():
            m = re.match(r"^(modelhost_[a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+)$", line)
            if m:
                values[m.group(1) + (m.group(2) or "")] = float(m.group(3))
        return values

    def tail(self, n=3000):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, wait=60):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(wait)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Balancer:
    """HAProxy in the foreground with a configuration from deploy/haproxy/make-config."""

    def __init__(self, work, replicas):
        self.work, self.replicas = work, replicas
        self.port = free_port("127.0.0.1")
        self.stats_port = free_port("127.0.0.1")
        self.process = None

    def start(self, round_robin=False):
        self.stop()
        args = [os.path.join(ROOT, "deploy/haproxy/make-config"), "--bind", f"127.0.0.1:{self.port}",
                "--stats", f"127.0.0.1:{self.stats_port}"]
        if round_robin:
            args.append("--round-robin")
        args += [f"{r.name}={r.address}:{r.port}" for r in self.replicas]
        config = os.path.join(self.work, "haproxy.cfg")
        with open(config, "w") as f:
            f.write(subprocess.check_output(args, text=True))
        self.process = subprocess.Popen(["haproxy", "-db", "-f", config],
                                        stdout=open(os.path.join(self.work, "haproxy.log"), "a"),
                                        stderr=subprocess.STDOUT)
        self.wait_up([r.name for r in self.replicas])

    def states(self):
        _, body = http_get("127.0.0.1", self.stats_port, "/;csv")
        rows = body.decode().splitlines()
        header = rows[0].lstrip("# ").split(",")
        out = {}
        for row in rows[1:]:
            fields = dict(zip(header, row.split(",")))
            if fields.get("pxname") == "replicas" and fields.get("svname") not in ("BACKEND", "FRONTEND"):
                out[fields["svname"]] = fields["status"]
        return out

    def wait_up(self, names, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                states = self.states()
                if all(states.get(n, "").startswith("UP") for n in names):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the balancer did not see {names} up: {self.states()}")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


def post_json(host, port, path, body, headers=None, timeout=120):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request("POST", path, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class Outcome:
    OK, REFUSED, BROKEN, HUNG = "ok", "failed before streaming", "stream broken", "hung"


def chat(port, body, timeout=90):
    """One request through the balancer: (outcome, replica, detail, stream start time, end time). A streamed answer
    counts as started once its first event arrived; it must end with [DONE]."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = None
    replica = None
    try:
        c.request("POST", "/v1/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"})
        r = c.getresponse()
        replica = r.getheader("X-ModelHost-Replica")
        if r.status != 200:
            return Outcome.REFUSED, replica, f"HTTP {r.status}: {r.read()[:200]!r}", None, time.time()
        if not body.get("stream"):
            reply = json.loads(r.read())
            if not reply.get("choices"):
                return Outcome.REFUSED, replica, f"no choices: {reply}", None, time.time()
            return Outcome.OK, replica, "", None, time.time()
        done = False
        while True:
            line = r.readline()
            if not line:
                break
            if line.startswith(b"data: "):
                if started is None:
                    started = time.time()
                if line.strip() == b"data: [DONE]":
                    done = True
                    break
                event = json.loads(line[6:])
                if "error" in event:
                    return Outcome.BROKEN, replica, f"error event: {event['error'].get('message')}", started, time.time()
        if done:
            return Outcome.OK, replica, "", started, time.time()
        return (Outcome.BROKEN if started else Outcome.REFUSED), replica, "ended without [DONE]", started, time.time()
    except socket.timeout:
        return Outcome.HUNG, replica, f"no progress for {timeout} s", started, time.time()
    except (OSError, http.client.HTTPException, ValueError) as e:
        return (Outcome.BROKEN if started else Outcome.REFUSED), replica, f"{type(e).__name__}: {e}", started, time.time()
    finally:
        c.close()


class Load:
    """`clients` threads sending requests through the balancer until stopped: odd clients stream, even ones take
    whole answers; each client has its own conversation key, so the load spreads over the replicas."""

    def __init__(self, port, clients=16, max_tokens=24):
        self.port, self.clients, self.max_tokens = port, clients, max_tokens
        self.results = []
        self.lock = threading.Lock()
        self.running = threading.Event()
        self.threads = []

    def client(self, k):
        n = 0
        while self.running.is_set():
            n += 1
            body = {"model": "default", "max_tokens": self.max_tokens, "temperature": 0.7,
                    "prompt_cache_key": f"client-{k}",
                    "messages": [{"role": "user", "content": f"Client {k}, request {n}: name a colour and a fruit."}]}
            if k % 2:
                body["stream"] = True
            sent = time.time()
            outcome, replica, detail, started, ended = chat(self.port, body)
            with self.lock:
                self.results.append({"client": k, "stream": bool(k % 2), "outcome": outcome, "replica": replica,
                                     "detail": detail, "sent": sent, "started": started, "ended": ended})

    def __enter__(self):
        self.running.set()
        self.threads = [threading.Thread(target=self.client, args=(k,), daemon=True) for k in range(self.clients)]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.running.clear()
        for t in self.threads:
            t.join(150)

    def summary(self):
        counts = {}
        for r in self.results:
            counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        per_replica = {}
        for r in self.results:
            if r["outcome"] == Outcome.OK:
                per_replica[r["replica"]] = per_replica.get(r["replica"], 0) + 1
        return counts, per_replica


def failover(balancer, replicas, seconds):
    victim = replicas[1]
    with Load(balancer.port) as load:
        time.sleep(seconds)
        killed_at = time.time()
        victim.stop(signal.SIGKILL)
        log(f"failover: killed {victim.name} (pid {victim.process.pid}) with SIGKILL under 16 clients")
        time.sleep(seconds)
    counts, per_replica = load.summary()
    broken = [r for r in load.results if r["outcome"] == Outcome.BROKEN]
    refused = [r for r in load.results if r["outcome"] == Outcome.REFUSED]
    hung = [r for r in load.results if r["outcome"] == Outcome.HUNG]
    after = [r for r in load.results if r["sent"] > killed_at]
    log(f"failover: {len(load.results)} requests: {counts}; answered by {per_replica}; {len(after)} sent after the kill")
    for r in broken:
        log(f"  broken stream on {r['replica']}: ended {r['ended'] - killed_at:+.2f} s after the kill ({r['detail']})")
    for r in (refused + hung)[:10]:
        log(f"  FAILED ({r['outcome']}) on {r['replica']}: {r['detail']}")
    # The killed replica's own streams are the only allowed failures, and they must end soon after the kill.
    late = [r for r in broken if r["replica"] != victim.name or r["ended"] - killed_at > 10]
    ok = not refused and not hung and not late
    log(f"FIGURE failover: {len(refused)} failed before streaming, {len(hung)} hung, {len(broken)} streams of the "
        f"killed replica ended with an error (allowed), {len(late)} other broken streams -> {'PASS' if ok else 'FAIL'}")
    victim.start()
    victim.warm()
    balancer.wait_up([victim.name])
    return ok


def rolling(balancer, replicas):
    with Load(balancer.port) as load:
        time.sleep(3)
        for replica in replicas:
            t0 = time.time()
            replica.stop(signal.SIGTERM)
            drained = time.time() - t0
            replica.start()
            balancer.wait_up([replica.name])
            log(f"rolling: {replica.name} drained and exited in {drained:.1f} s, back in the pool "
                f"{time.time() - t0:.1f} s after SIGTERM")
            time.sleep(2)
        time.sleep(2)
    counts, per_replica = load.summary()
    failed = [r for r in load.results if r["outcome"] != Outcome.OK]
    for r in failed[:10]:
        log(f"  FAILED ({r['outcome']}) on {r['replica']}: {r['detail']}")
    log(f"rolling: {len(load.results)} requests: {counts}; answered by {per_replica}")
    ok = not failed and len(load.results) > 0
    log(f"FIGURE rolling restart: {len(failed)} failed of {len(load.results)} -> {'PASS' if ok else 'FAIL'}")
    return ok


def routed(port, headers):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/health", headers=headers)
        r = c.getresponse()
        r.read()
        return r.getheader("X-ModelHost-Replica")
    finally:
        c.close()


def hashing(balancer, replicas, binary, models, work):
    keys = [f"session-{i}" for i in range(300)]
    first = {k: routed(balancer.port, {"X-Session-Id": k}) for k in keys}
    again = {k: routed(balancer.port, {"X-Session-Id": k}) for k in keys}
    stable = sum(first[k] == again[k] for k in keys)
    spread = {name: list(first.values()).count(name) for name in sorted(set(first.values()))}
    auth = {routed(balancer.port, {"Authorization": "Bearer sk-user-7"}) for _ in range(10)}
    keyless = [routed(balancer.port, {}) for _ in range(30)]
    keyless_spread = {name: keyless.count(name) for name in sorted(set(keyless))}
    log(f"hashing: 300 keys over 3 replicas {spread}; {stable}/300 reached the same replica twice; an API key went "
        f"to {sorted(auth)}; 30 keyless requests went {keyless_spread}")
    fourth = Replica("r4", EXTRA_ADDRESS, replicas[0].port, binary, models, work)
    fourth.start()
    try:
        balancer.replicas = replicas + [fourth]
        balancer.start()
        after = {k: routed(balancer.port, {"X-Session-Id": k}) for k in keys}
    finally:
        balancer.replicas = replicas
        fourth.stop()
        balancer.start()
    moved = [k for k in keys if after[k] != first[k]]
    to_new = sum(after[k] == "r4" for k in moved)
    ok = (stable == len(keys) and len(auth) == 1 and len(keyless_spread) == 3 and to_new == len(moved)
          and 0.1 <= len(moved) / len(keys) <= 0.45 and min(spread.values()) >= 40)
    log(f"FIGURE hashing: adding a 4th replica moved {len(moved)}/300 keys ({len(moved) / 3:.0f}%), {to_new} of them "
        f"to the new replica; keys stable {stable}/300 -> {'PASS' if ok else 'FAIL'}")
    return ok


def conversation_turns(port, key, turns, answer_tokens, nonce):
    """One conversation, one turn at a time: time to first content token per turn, and which replica answered."""
    messages = [{"role": "system", "content": f"You are a patient travel guide (session {nonce})."}]
    subjects = ["rivers", "mountains", "food", "music", "history", "trains", "islands", "festivals", "cities",
                "weather", "markets", "museums"]
    ttfts, served = [], []
    for turn in range(turns):
        messages.append({"role": "user", "content": f"Tell me about the {subjects[turn % len(subjects)]} of the "
                                                    f"country we talk about, in detail."})
        body = {"model": "default", "messages": messages, "max_tokens": answer_tokens, "temperature": 0,
                "stream": True, "logit_bias": END_TOKENS_BANNED, "prompt_cache_key": key}
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        t0 = time.time()
        c.request("POST", "/v1/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"})
        r = c.getresponse()
        if r.status != 200:
            raise RuntimeError(f"turn {turn + 1}: HTTP {r.status}: {r.read()[:300]!r}")
        served.append(r.getheader("X-ModelHost-Replica"))
        first, text = None, []
        for line in r:
            if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
                continue
            delta = json.loads(line[6:])["choices"][0]["delta"].get("content")
            if delta:
                if first is None:
                    first = time.time()
                text.append(delta)
        c.close()
        ttfts.append(first - t0)
        messages.append({"role": "assistant", "content": "".join(text)})
    return ttfts, served


def cache_counters(replicas):
    total = {"hits": 0.0, "cached": 0.0, "prompt": 0.0, "requests": 0.0}
    for r in replicas:
        m = r.metrics()
        total["hits"] += m.get("modelhost_prefix_cache_hits_total", 0)
        total["cached"] += m.get("modelhost_cached_prompt_tokens_total", 0)
        total["prompt"] += m.get("modelhost_prompt_tokens_total", 0)
        total["requests"] += sum(v for k, v in m.items()
                                 if k.startswith("modelhost_requests_total") and 'endpoint="/v1/chat/completions"' in k)
    return total


def affinity(balancer, replicas, conversations, turns, answer_tokens, min_ratio):
    results = {}
    for mode in ("affinity", "round robin"):
        balancer.start(round_robin=mode == "round robin")
        before = cache_counters(replicas)
        per_turn = [[] for _ in range(turns)]
        for c in range(conversations):
            ttfts, served = conversation_turns(balancer.port, f"conversation-{mode}-{c}", turns, answer_tokens,
                                               f"{mode}-{c}-{random.random():.6f}")
            for t, v in enumerate(ttfts):
                per_turn[t].append(v)
            log(f"affinity: {mode}, conversation {c + 1}: replicas {' '.join(served)}")
        after = cache_counters(replicas)
        d = {k: after[k] - before[k] for k in after}
        results[mode] = {"ttft": [statistics.median(v) for v in per_turn],
                         "hit_rate": d["hits"] / max(1, d["requests"]),
                         "cached_share": d["cached"] / max(1, d["prompt"])}
    a, rr = results["affinity"], results["round robin"]
    log("affinity: time to first token per turn (median of %d conversations), ms" % conversations)
    log("  turn  affinity  round-robin  ratio")
    for t in range(turns):
        log(f"  {t + 1:4d}  {a['ttft'][t] * 1000:8.0f}  {rr['ttft'][t] * 1000:11.0f}  {rr['ttft'][t] / a['ttft'][t]:5.1f}x")
    ratio = rr["ttft"][-1] / a["ttft"][-1]
    ok = ratio >= min_ratio
    log(f"FIGURE affinity: turn {turns} time to first token {a['ttft'][-1] * 1000:.0f} ms with affinity vs "
        f"{rr['ttft'][-1] * 1000:.0f} ms round robin: {ratio:.1f}x lower (needs >= {min_ratio}x) -> "
        f"{'PASS' if ok else 'FAIL'}")
    log(f"FIGURE prefix cache: affinity {a['hit_rate'] * 100:.0f}% of requests hit, {a['cached_share'] * 100:.0f}% of "
        f"prompt tokens from cache; round robin {rr['hit_rate'] * 100:.0f}% hit, {rr['cached_share'] * 100:.0f}% from cache")
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--modelhost", default=os.path.join(ROOT, ".build/release/modelhost"))
    p.add_argument("--model", default=os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    p.add_argument("--phases", default="hashing,failover,rolling,affinity")
    p.add_argument("--load-seconds", type=float, default=8)
    p.add_argument("--conversations", type=int, default=3)
    p.add_argument("--turns", type=int, default=10)
    p.add_argument("--answer-tokens", type=int, default=96)
    p.add_argument("--min-ratio", type=float, default=5.0)
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, state, haproxy.cfg)")
    args = p.parse_args()
    if shutil.which("haproxy") is None:
        sys.exit("haproxy is not installed (scripts/setup installs it: apt-get install haproxy)")
    work = tempfile.mkdtemp(prefix="mh-replicas-")
    models = os.path.join(work, "models")
    os.makedirs(models)
    os.symlink(os.path.realpath(args.model), os.path.join(models, os.path.basename(args.model)))
    # One port number on every replica's own address, as replicas on separate machines would have.
    port = free_port(ADDRESSES[0])
    replicas = [Replica(f"r{i + 1}", a, port, args.modelhost, models, work) for i, a in enumerate(ADDRESSES)]
    balancer = Balancer(work, replicas)
    ok = True
    try:
        for r in replicas:
            r.start()
            r.warm()
        balancer.start()
        log(f"replicas {', '.join(f'{r.name}={r.address}:{r.port}' for r in replicas)} behind HAProxy on "
            f"127.0.0.1:{balancer.port} (work directory {work})")
        phases = args.phases.split(",")
        if "hashing" in phases:
            ok &= hashing(balancer, replicas, args.modelhost, models, work)
        if "failover" in phases:
            ok &= failover(balancer, replicas, args.load_seconds)
        if "rolling" in phases:
            ok &= rolling(balancer, replicas)
        if "affinity" in phases:
            ok &= affinity(balancer, replicas, args.conversations, args.turns, args.answer_tokens, args.min_ratio)
    except Exception:
        for r in replicas:
            log(f"--- {r.name} log tail ---\n{r.tail()}")
        raise
    finally:
        balancer.stop()
        for r in replicas:
            r.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    log("replicas: PASS" if ok else "replicas: FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
