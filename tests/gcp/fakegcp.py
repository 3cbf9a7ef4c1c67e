#!/usr/bin/env python3
"""fakegcp.py - a FAKE of Google's OAuth2 token endpoint, of the Compute
Engine API and of the Cloud Storage JSON API, for tests/bats/gcp.bats. No
emulator of Compute Engine exists, and none of GCS ships in Debian or npm
that serves the JSON API's media downloads with ranges; this plays the
calls the gcp provider makes, and checks what it receives so the test can
fail:

  POST /token          the JWT-bearer grant: the assertion's RS256
                       signature is verified against the test key's public
                       modulus, its iss, aud (this URL), scope and exp
                       checked (400 invalid_grant else)
  GET  /compute/v1/projects/P[/zones/Z/instances/I | /zones/Z/machineTypes/T
       | /aggregated/instances]
  GET  /storage/v1/b/B/o/O             object metadata (size)
  GET|HEAD /storage/v1/b/B/o/O?alt=media  the object, with Range (206)
Every API call must carry the token the login gave. GET /_fake/state ->
{"logins", "media_bytes" (body bytes of media sent), "log"}.

Usage: fakegcp.py CONFIG.json PORTFILE CERT KEY
CONFIG: {"client_email", "modulus" (hex, the key's RSA n), "project",
"objects": {"BUCKET/OBJECT": FILE}, "instances": [{"zone", "name",
"machineType", "status", "networks": [NAME], "uefi": bool, "gb"}],
"machineTypes": {"T": {"guestCpus", "memoryMb"}}}
"""
import base64, hashlib, json, os, re, ssl, sys, threading, time, uuid, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONF = json.load(open(sys.argv[1]))
N = int(CONF["modulus"], 16)
TOKEN = "fake-gcp-token-" + uuid.uuid4().hex
LOCK = threading.Lock()
STATE = {"logins": 0, "media_bytes": 0, "log": []}
SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def rs256_ok(signing_input, sig):
    k = (N.bit_length() + 7) // 8
    em = pow(int.from_bytes(sig, "big"), 65537, N).to_bytes(k, "big")
    digest = hashlib.sha256(signing_input).digest()
    want = b"\x00\x01" + b"\xff" * (k - 3 - len(SHA256_PREFIX) - 32) + b"\x00" + SHA256_PREFIX + digest
    return em == want


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        sys.stderr.write("fakegcp: " + (fmt % a) + "\n")

    def send(self, code, obj=None, headers=None, body=None):
        if body is None:
            body = json.dumps(obj).encode() if obj is not None else b""
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def err(self, code, msg):
        self.send(code, {"error": {"code": code, "message": msg}})

    def note(self, what):
        with LOCK:
            STATE["log"].append(what)

    def token(self):
        n = int(self.headers.get("Content-Length") or 0)
        f = urllib.parse.parse_qs(self.rfile.read(n).decode())
        one = lambda k: (f.get(k) or [""])[0]
        bad = lambda why: (self.note("login refused: " + why),
                           self.send(400, {"error": "invalid_grant", "error_description": why}))
        if one("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return bad("wrong grant_type")
        parts = one("assertion").split(".")
        if len(parts) != 3:
            return bad("not a JWT")
        try:
            head, claims, sig = json.loads(b64d(parts[0])), json.loads(b64d(parts[1])), b64d(parts[2])
        except Exception:
            return bad("undecodable JWT")
        if head.get("alg") != "RS256" or not rs256_ok((parts[0] + "." + parts[1]).encode(), sig):
            return bad("Invalid JWT Signature.")
        now = time.time()
        if claims.get("iss") != CONF["client_email"] or \
                claims.get("aud") != "https://%s/token" % self.headers["Host"] or \
                claims.get("scope") != "https://www.googleapis.com/auth/cloud-platform" or \
                not (claims.get("iat", 0) - 300 <= now < claims.get("exp", 0) <= now + 3700):
            return bad("Invalid JWT: claims (iss, aud, scope, iat/exp)")
        with LOCK:
            STATE["logins"] += 1
        self.note("login")
        self.send(200, {"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"})

    def authed(self):
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            self.err(401, "Request had invalid authentication credentials.")
            return False
        return True

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path == "/token":
            return self.token()
        self.err(404, "no such endpoint")

    def do_HEAD(self):
        self.do_GET()

    def instance(self, i):
        p = CONF["project"]
        return {"name": i["name"], "status": i["status"], "zone": "https://www.googleapis.com/compute/v1/projects/%s/zones/%s" % (p, i["zone"]),
                "machineType": "https://www.googleapis.com/compute/v1/projects/%s/zones/%s/machineTypes/%s" % (p, i["zone"], i["machineType"]),
                "networkInterfaces": [{"name": "nic%d" % k, "network": "https://www.googleapis.com/compute/v1/projects/%s/global/networks/%s" % (p, n)}
                                      for k, n in enumerate(i["networks"])],
                "disks": [{"boot": True, "diskSizeGb": str(i.get("gb", 1)),
                           "guestOsFeatures": [{"type": "UEFI_COMPATIBLE"}] if i.get("uefi") else []}]}

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        p, q = u.path, urllib.parse.parse_qs(u.query)
        if p == "/_fake/state":
            with LOCK:
                return self.send(200, STATE)
        if not self.authed():
            return
        pre = "/compute/v1/projects/" + CONF["project"]
        if p == pre:
            return self.send(200, {"name": CONF["project"], "kind": "compute#project"})
        if p == pre + "/aggregated/instances":
            items = {}
            for i in CONF["instances"]:
                items.setdefault("zones/" + i["zone"], {"instances": []})["instances"].append(self.instance(i))
            return self.send(200, {"items": items})
        m = re.fullmatch(pre + r"/zones/([^/]+)/instances/([^/]+)", p)
        if m:
            for i in CONF["instances"]:
                if (i["zone"], i["name"]) == m.groups():
                    return self.send(200, self.instance(i))
            return self.err(404, "The resource 'projects/%s/zones/%s/instances/%s' was not found" % (CONF["project"], *m.groups()))
        m = re.fullmatch(pre + r"/zones/([^/]+)/machineTypes/([^/]+)", p)
        if m and m.group(2) in CONF["machineTypes"]:
            return self.send(200, dict(CONF["machineTypes"][m.group(2)], name=m.group(2)))
        m = re.fullmatch(r"/storage/v1/b/([^/]+)/o/([^/]+)", p)
        if m:
            key = m.group(1) + "/" + urllib.parse.unquote(m.group(2))
            if key not in CONF["objects"]:
                return self.err(404, "No such object: " + key)
            return self.media(key) if q.get("alt") == ["media"] else \
                self.send(200, {"bucket": m.group(1), "name": key.split("/", 1)[1],
                                "size": str(os.path.getsize(CONF["objects"][key]))})
        self.err(404, "no such resource " + p)

    def media(self, key):
        path = CONF["objects"][key]
        size = os.path.getsize(path)
        rng = self.headers.get("Range")
        a, b, code = 0, size - 1, 200
        if rng:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
            a, b, code = int(m.group(1)), min(int(m.group(2) or size - 1), size - 1), 206
        with open(path, "rb") as f:
            f.seek(a)
            body = f.read(b - a + 1) if self.command != "HEAD" else b""
        h = {"Accept-Ranges": "bytes"}
        if code == 206:
            h["Content-Range"] = "bytes %d-%d/%d" % (a, b, size)
        if self.command == "HEAD":
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            return
        with LOCK:
            STATE["media_bytes"] += len(body)
        self.send(code, headers=h, body=body)


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    srv.serve_forever()


if __name__ == "__main__":
    main()
