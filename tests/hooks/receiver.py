#!/usr/bin/env python3
# receiver.py - a webhook receiver for tests/bats/webhook.bats (python3's
# http.server, a real HTTP server): every POST is appended as one JSON
# line {"path", "headers", "body"} to OUT and answered 200 (or STATUS). It
# checks nothing itself: the test checks signatures and counts.
# usage: receiver.py OUT PORT PORTFILE [STATUS]   (PORT 0: any free port,
# written to PORTFILE once listening)
import http.server
import json
import sys

out, port, portfile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
status = int(sys.argv[4]) if len(sys.argv) > 4 else 200


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8")
        rec = {"path": self.path, "headers": dict(self.headers.items()),
               "body": body}
        with open(out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


srv = http.server.HTTPServer(("127.0.0.1", port), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
