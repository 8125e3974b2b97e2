#!/usr/bin/env python3
"""An HTTP proxy in front of a local S3 server (s3rver) that fails a share of
requests on purpose, for re_dms's S3 retry tests. Standard library only.

Listens on 127.0.0.1 (port 0 = any free port) and prints `PORT <n>` once ready.
Clients address it exactly as they would the S3 endpoint (path-style).

For each request, with probability --fail-rate (decided by a random generator
seeded with --seed), one of --modes is injected instead of a clean answer:

  500    HTTP 500 with S3's InternalError XML; nothing reaches the upstream
  503    HTTP 503 with S3's SlowDown XML; nothing reaches the upstream
  drop   the request body is read, then the connection is reset (no response)
  stall  the request IS forwarded (so the upstream applies it), but the
         response stops halfway through its body -- or, for an empty body,
         never starts -- and the connection hangs for --stall-seconds

--only REGEX limits injection to requests whose `METHOD /path?query` matches
(e.g. '^POST .*uploadId=' for CompleteMultipartUpload); --max-faults N stops
injecting after N faults.

--forbid answers every request with 403 SignatureDoesNotMatch instead.
--delay-seconds S holds every request that long before answering it, so that
concurrent requests overlap.

GET /__stats returns counts as JSON: requests, forwarded, one per mode, and
max_in_flight, the most requests the proxy was handling at once.
"""
import argparse
import http.client
import http.server
import json
import random
import re
import socket
import struct
import sys
import threading
import time
import urllib.parse

ERROR_XML = ('<?xml version="1.0" encoding="UTF-8"?>\n'
             '<Error><Code>%s</Code><Message>%s</Message>'
             '<RequestId>FAULTPROXY%06d</RequestId></Error>')
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
              "trailer", "upgrade", "expect", "content-length"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True, help="http://host:port of the S3 server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--modes", default="500,503,drop,stall")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stall-seconds", type=float, default=30.0)
    parser.add_argument("--only", default="")
    parser.add_argument("--max-faults", type=int, default=-1)
    parser.add_argument("--forbid", action="store_true")
    parser.add_argument("--delay-seconds", type=float, default=0.0)
    args = parser.parse_args()

    upstream = urllib.parse.urlsplit(args.upstream)
    modes = [mode for mode in args.modes.split(",") if mode]
    for mode in modes:
        if mode not in ("500", "503", "drop", "stall"):
            parser.error("unknown mode " + mode)
    lock = threading.Lock()
    rng = random.Random(args.seed)
    stats = {"requests": 0, "forwarded": 0, "403": 0, "max_in_flight": 0}
    in_flight = [0]
    stats.update({mode: 0 for mode in modes})

    only = re.compile(args.only) if args.only else None
    injected = [0]

    def decide(request_line):
        with lock:
            stats["requests"] += 1
            number = stats["requests"]
            eligible = (only is None or only.search(request_line)) and (
                args.max_faults < 0 or injected[0] < args.max_faults)
            if args.forbid:
                fate = "403"
            elif eligible and modes and rng.random() < args.fail_rate:
                fate = rng.choice(modes)
                injected[0] += 1
            else:
                fate = None
            if fate is not None:
                stats[fate] += 1
            return number, fate

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *unused):
            pass

        def read_body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def reply(self, status, body, headers=(), length=None):
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def error(self, status, code, message, number):
            self.reply(status, (ERROR_XML % (code, message, number)).encode(),
                       [("Content-Type", "application/xml")])

        def reset(self):
            # SO_LINGER with a zero timeout makes close() send a RST: the
            # client sees a dropped connection, not a clean end of response.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True

        def forward(self, body):
            connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
            headers = {name: value for name, value in self.headers.items()
                       if name.lower() not in HOP_BY_HOP}
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            connection.close()
            with lock:
                stats["forwarded"] += 1
            return response, data

        def handle_any(self):
            if self.command == "GET" and self.path == "/__stats":
                with lock:
                    return self.reply(200, json.dumps(stats).encode())
            with lock:
                in_flight[0] += 1
                stats["max_in_flight"] = max(stats["max_in_flight"], in_flight[0])
            try:
                self.handle_counted()
            finally:
                with lock:
                    in_flight[0] -= 1

        def handle_counted(self):
            body = self.read_body()
            time.sleep(args.delay_seconds)
            number, fate = decide("%s %s" % (self.command, self.path))
            if fate == "403":
                return self.error(403, "SignatureDoesNotMatch",
                                  "The request signature we calculated does not match the "
                                  "signature you provided.", number)
            if fate == "500":
                return self.error(500, "InternalError", "Injected by fault_proxy.", number)
            if fate == "503":
                return self.error(503, "SlowDown", "Please reduce your request rate.", number)
            if fate == "drop":
                return self.reset()
            response, data = self.forward(body)
            headers = [(name, value) for name, value in response.getheaders()
                       if name.lower() not in HOP_BY_HOP]
            if fate == "stall":
                if data:
                    self.send_response(response.status)
                    for name, value in headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[:len(data) // 2])
                    self.wfile.flush()
                time.sleep(args.stall_seconds)
                return self.reset()
            # A HEAD answer has no body but announces the object's length.
            length = response.getheader("Content-Length") if self.command == "HEAD" else None
            self.reply(response.status, data, headers, length)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
