"""Drives `modelhost chat` through a pseudo-terminal as a person would: waits for the prompt, types a question,
reads the streamed answer, presses Ctrl-C in the middle of a long answer, checks the chat is still there, then
leaves with Ctrl-D. Exits non-zero with the screen so far when anything is off.

    python3 chat_pty.py MODELHOST_BINARY BASE_URL ADMIN_URL
"""
import json
import os
import pty
import select
import signal
import sys
import time
import urllib.request

binary, base_url, admin_url = sys.argv[1:4]
screen = b""


def fail(message):
    sys.stdout.write(f"FAIL: {message}\n--- screen ---\n{screen.decode(errors='replace')}\n")
    sys.exit(1)


def read_until(fd, predicate, timeout, what):
    """Reads the terminal until predicate(screen) holds; returns the time it first held."""
    global screen
    deadline = time.monotonic() + timeout
    while not predicate(screen):
        left = deadline - time.monotonic()
        if left <= 0:
            fail(f"timed out waiting for {what}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                fail(f"the chat ended while waiting for {what}")
            if not chunk:
                fail(f"the chat ended while waiting for {what}")
            screen += chunk
    return time.monotonic()


def in_flight():
    with urllib.request.urlopen(admin_url + "/admin/status", timeout=5) as reply:
        status = json.load(reply)
    return sum(model["requests_in_flight"] for model in status["models"])


pid, fd = pty.fork()
if pid == 0:
    # Greedy, so that the answers checked below do not depend on a draw; capped, so that a rambling answer of this
    # small model cannot hold the test up.
    os.execv(binary, [binary, "chat", "--url", base_url, "--temperature", "0", "--max-tokens", "400"])

read_until(fd, lambda s: s.endswith(b">>> "), 30, "the first prompt")
if b"Ctrl-C stops an answer" not in screen:
    fail("the greeting does not say how to stop an answer")

# 1. A question and its streamed answer, ending at a new prompt.
start = len(screen)
os.write(fd, b"What is the capital of France?\r")
read_until(fd, lambda s: s[start:].count(b">>> ") >= 1 and s.endswith(b">>> "), 60, "the first answer")
answer = screen[start:].decode(errors="replace")
print("first answer:", repr(answer))
if "Paris" not in answer:
    fail("the answer to the first question does not name Paris")

# 2. A multi-line message (a line ending in a backslash continues), answered as one message.
start = len(screen)
os.write(fd, b"Say the word \\\r")
read_until(fd, lambda s: s.endswith(b"... "), 10, "the continuation prompt")
os.write(fd, b"hello.\r")
read_until(fd, lambda s: s[start:].endswith(b">>> "), 60, "the multi-line answer")

# 3. Ctrl-C in the middle of a long answer: the answer stops, the chat stays, the server stops generating.
start = len(screen)
os.write(fd, b"Write a long essay, at least 800 words, about the history of Paris.\r")
# The echo of the typed line ends with a newline; the answer is what follows.
first_text = read_until(fd, lambda s: len(s[start:].split(b"\n", 1)[-1].strip()) > 40, 60, "the essay to start")
os.write(fd, b"\x03")
stopped = read_until(fd, lambda s: b"[stopped]" in s[start:] and s.endswith(b">>> "), 10, "[stopped] and a prompt")
print(f"Ctrl-C to prompt: {stopped - first_text:.3f} s")
deadline = time.monotonic() + 3
while in_flight() != 0:
    if time.monotonic() > deadline:
        fail("the server still generates the interrupted answer 3 s after Ctrl-C")
    time.sleep(0.05)

# 4. Ctrl-C at the prompt does not leave.
os.write(fd, b"\x03")
read_until(fd, lambda s: s.endswith(b"(Ctrl-D or /bye leaves)\n>>> ") or s.endswith(b"(Ctrl-D or /bye leaves)\r\n>>> "),
           10, "the hint after Ctrl-C at the prompt")

# 5. The conversation goes on after the interruption; /reset and /system are understood.
start = len(screen)
os.write(fd, b"/system You are terse.\r")
read_until(fd, lambda s: b"(system prompt set)" in s[start:] and s.endswith(b">>> "), 10, "/system")
os.write(fd, b"/reset\r")
read_until(fd, lambda s: b"(conversation cleared)" in s[start:] and s.endswith(b">>> "), 10, "/reset")
start = len(screen)
os.write(fd, b"What is 2 + 2?\r")
read_until(fd, lambda s: s[start:].endswith(b">>> ") and len(s[start:]) > 25, 60, "an answer after the interruption")

# 6. Ctrl-D leaves with status 0.
os.write(fd, b"\x04")
deadline = time.monotonic() + 10
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.monotonic() > deadline:
        os.kill(pid, signal.SIGKILL)
        fail("the chat did not leave on Ctrl-D")
    try:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            screen += os.read(fd, 4096)
    except OSError:
        pass
if os.waitstatus_to_exitcode(status) != 0:
    fail(f"the chat exited with {os.waitstatus_to_exitcode(status)}")
print("chat through a pseudo-terminal: ok")
