#!/usr/bin/env python3
"""A local Hugging Face-compatible hub for the pull tests (nothing here touches the internet). It serves the
repositories under ROOT (ROOT/ORG/NAME/files...) the way the hub does for huggingface_hub and `modelhost pull`:

  GET /api/models/ORG/NAME/revision/main?blobs=true   {"sha": commit, "siblings": [{"rfilename", "size", "blobId",
                                                       "lfs": {"sha256", "size"}}]}  (LFS for .gguf, .safetensors, .bin)
  GET /ORG/NAME/resolve/REV/PATH                      the file, with Range requests answered 206

--token T requires "Authorization: Bearer T". --fail-after N drops the connection after N bytes of the first
download of each LFS file (an interrupted transfer). --corrupt NAME serves NAME with one byte flipped while listing
its true SHA-256. Every request is appended to --log (method, path, Range). Prints the port when ready."""
import argparse
import hashlib
import http.server
import json
import os
import socketserver
import threading


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--token")
    p.add_argument("--fail-after", type=int, default=0)
    p.add_argument("--corrupt", default="")
    p.add_argument("--log", required=True)
    args = p.parse_args()
    failed_once = set()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def record(self):
            with lock, open(args.log, "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path,
                                    "range": self.headers.get("Range")}) + "\n")

        def send_json(self, status, value):
            body = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self.record()
            if args.token and self.headers.get("Authorization") != f"Bearer {args.token}":
                return self.send_json(401, {"error": "Invalid credentials"})
            path = self.path.split("?")[0]
            parts = path.strip("/").split("/")
            if parts[:2] == ["api", "models"] and len(parts) >= 4:
                repo = os.path.join(args.root, parts[2], parts[3])
                if not os.path.isdir(repo):
                    return self.send_json(404, {"error": "Repository not found"})
                siblings = []
                for base, _, files in sorted(os.walk(repo)):
                    for name in sorted(files):
                        full = os.path.join(base, name)
                        rel = os.path.relpath(full, repo)
                        data = open(full, "rb").read()
                        entry = {"rfilename": rel, "size": len(data), "blobId": git_blob_id(data)}
                        if rel.endswith((".gguf", ".safetensors", ".bin")):
                            entry["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                        siblings.append(entry)
                commit = hashlib.sha1(repo.encode()).hexdigest()
                return self.send_json(200, {"id": f"{parts[2]}/{parts[3]}", "sha": commit, "siblings": siblings})
            if len(parts) >= 5 and parts[2] == "resolve":
                rel = "/".join(parts[4:])
                full = os.path.join(args.root, parts[0], parts[1], rel)
                if not os.path.isfile(full):
                    return self.send_json(404, {"error": "Entry not found"})
                data = bytearray(open(full, "rb").read())
                if rel == args.corrupt:
                    data[len(data) // 2] ^= 0xFF
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                body = bytes(data[start:])
                key = full
                if args.fail_after and rel.endswith((".gguf", ".safetensors")) and key not in failed_once:
                    with lock:
                        failed_once.add(key)
                    self.wfile.write(body[:args.fail_after])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    self.close_connection = True
                    return
                self.wfile.write(body)
                return
            self.send_json(404, {"error": "not found"})

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
