#!/usr/bin/env python3
"""A local stand-in for the EC2 instance metadata service (IMDSv2) and the ECS
container credentials endpoint, for re_dms's credential chain tests.

Listens on 127.0.0.1 (port 0 = any free port) and prints `PORT <n>` once ready.

  PUT  /latest/api/token                              needs the TTL header; returns a token
  GET  /latest/meta-data/iam/security-credentials/    needs the token; returns the role name
  GET  /latest/meta-data/iam/security-credentials/R   needs the token; credentials JSON
  GET  <--ecs-path>                                   needs `Authorization: <--ecs-token>`
  GET  /__stats                                       request counts, as JSON

Every credentials document carries a new AccessKeyId (ASIAIMDS0001, 0002, ...;
ASIAECS0001, ...) so a test can tell a fresh fetch from a cached one. Expiration is
now + --expires-in seconds. After --fail-after documents, further ones get HTTP 500.
--document TEXT serves TEXT verbatim instead of a credentials document.
"""
import argparse
import datetime
import http.server
import json
import sys
import threading

ROLES = "/latest/meta-data/iam/security-credentials/"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--role", default="re-dms-test-role")
    parser.add_argument("--expires-in", type=int, default=3600)
    parser.add_argument("--ecs-path", default="/v2/credentials/test")
    parser.add_argument("--ecs-token", default="")
    parser.add_argument("--fail-after", type=int, default=-1)
    parser.add_argument("--document", default=None)
    args = parser.parse_args()

    lock = threading.Lock()
    state = {"tokens": set(), "documents": 0, "stats": {}}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *unused):
            pass

        def reply(self, status, body, content_type="text/plain"):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def count(self, what):
            with lock:
                state["stats"][what] = state["stats"].get(what, 0) + 1

        def credentials(self, prefix):
            with lock:
                state["documents"] += 1
                n = state["documents"]
            if 0 <= args.fail_after < n:
                return self.reply(500, "injected failure")
            if args.document is not None:
                return self.reply(200, args.document, "application/json")
            expiration = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
                seconds=args.expires_in)
            self.reply(200, json.dumps({
                "Code": "Success",
                "Type": "AWS-HMAC",
                "AccessKeyId": "%s%04d" % (prefix, n),
                "SecretAccessKey": "secret-%04d" % n,
                "Token": "session-token-%04d" % n,
                "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }), "application/json")

        def token_ok(self):
            with lock:
                return self.headers.get("X-aws-ec2-metadata-token") in state["tokens"]

        def do_PUT(self):
            self.count("PUT " + self.path)
            if self.path != "/latest/api/token":
                return self.reply(404, "not found")
            if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                return self.reply(400, "missing TTL header")
            with lock:
                token = "token-%d" % (len(state["tokens"]) + 1)
                state["tokens"].add(token)
            self.reply(200, token)

        def do_GET(self):
            if self.path == "/__stats":
                with lock:
                    return self.reply(200, json.dumps(state["stats"]), "application/json")
            self.count("GET " + self.path)
            if self.path == args.ecs_path:
                if args.ecs_token and self.headers.get("Authorization") != args.ecs_token:
                    return self.reply(401, "bad authorization")
                return self.credentials("ASIAECS")
            if self.path.startswith(ROLES):
                if not self.token_ok():
                    return self.reply(401, "IMDSv2 token required")
                if self.path == ROLES:
                    return self.reply(200, args.role)
                if self.path == ROLES + args.role:
                    return self.credentials("ASIAIMDS")
            self.reply(404, "not found")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
