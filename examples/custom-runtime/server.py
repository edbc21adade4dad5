"""A web server that is its own Cerebrium app: a custom runtime, Python standard library only.

cerebrium-local (and Cerebrium) start it with PORT set, wait for /ready, poll /health, and forward
every request under /v4/{project}/custom-runtime/ to it: /v4/{project}/custom-runtime/echo reaches
/echo here.
"""

import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# What a real server does at start-up (loading a model): /ready says 503 until it is done.
LOADED_AT = time.monotonic() + float(os.environ.get("READY_AFTER_S", "0"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave as separate writes; without this, Nagle's algorithm holds the body ~40 ms.
    disable_nagle_algorithm = True

    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_PUT(self):
        self.route()

    def do_PATCH(self):
        self.route()

    def do_DELETE(self):
        self.route()

    def route(self):
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        if url.path == "/ready":
            ready = time.monotonic() >= LOADED_AT
            return self.send_json(200 if ready else 503, {"ready": ready})
        if url.path == "/health":
            return self.send_json(200, {"healthy": True})
        if url.path == "/stream":
            return self.stream_events(int(query.get("n", "5")), float(query.get("interval", "0.1")), int(query.get("pad", "0")))
        if url.path == "/upload":
            return self.count_upload()
        if url.path == "/sleep":
            seconds = float(query.get("s", "1"))
            time.sleep(seconds)
            return self.send_json(200, {"slept": seconds, "pid": os.getpid(), "port": self.server.server_address[1]})
        if url.path.startswith("/status/"):
            return self.send_json(int(url.path.split("/")[2]), {"status": int(url.path.split("/")[2])})
        if url.path == "/exit":
            # A replica that dies mid-request, to see how a client is told.
            os._exit(1)
        if url.path.startswith("/echo"):
            return self.echo(url.path, query)
        return self.send_json(404, {"detail": f"no route {url.path}"})

    def echo(self, path, query):
        body = self.read_body()
        self.send_json(
            200,
            {
                "method": self.command,
                "path": path,
                "query": query,
                "headers": {key.lower(): value for key, value in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
                "pid": os.getpid(),
                "port": self.server.server_address[1],
            },
            extra={"x-echo": "yes"},
        )

    def count_upload(self):
        digest = hashlib.sha256()
        size = 0
        for chunk in self.body_chunks():
            digest.update(chunk)
            size += len(chunk)
        self.send_json(200, {"bytes": size, "sha256": digest.hexdigest()})

    def stream_events(self, count, interval, pad):
        """Server-sent events, one every `interval` seconds (each with `pad` bytes more), as HTTP/1.1 chunks."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for i in range(count):
            event = {"i": i, "t": time.time(), **({"pad": "x" * pad} if pad else {})}
            self.write_chunk(f"id: {i}\ndata: {json.dumps(event)}\n\n".encode())
            time.sleep(interval)
        self.write_chunk(b"event: done\ndata: {}\n\n")
        self.write_chunk(b"")

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def read_body(self):
        return b"".join(self.body_chunks())

    def body_chunks(self):
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return
                yield self.rfile.read(size)
                self.rfile.readline()
        remaining = int(self.headers.get("content-length", "0"))
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk

    def send_json(self, status, value, extra=None):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, header in (extra or {}).items():
            self.send_header(key, header)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format, *args):
        print(f"{self.command} {self.path} {args[1] if len(args) > 1 else ''}", file=sys.stderr, flush=True)


def port():
    # PORT is set by cerebrium-local for each replica; a port on the command line wins, as it is
    # replaced by the replica's own when it equals [cerebrium.runtime.custom].port.
    if len(sys.argv) > 1:
        return int(sys.argv[1])
    return int(os.environ.get("PORT", "8192"))


if __name__ == "__main__":
    server = ThreadingHTTPServer(("0.0.0.0", port()), Handler)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
