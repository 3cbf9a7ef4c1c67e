#!/usr/bin/env python3
"""fakegcp.py - a FAKE of Google's OAuth2 token endpoint, of the Compute
Engine API, of Cloud Build and of the Cloud Storage JSON API, for
tests/bats/gcp.bats. No emulator of Compute Engine or Cloud Build exists,
and none of GCS ships in Debian or npm that serves the JSON API's media
downloads with ranges; this plays the calls the gcp provider makes, and
checks what it receives so the test can fail:

  POST /token          the JWT-bearer grant: the assertion's RS256
                       signature is verified against the test key's public
                       modulus, its iss, aud (this URL), scope and exp
                       checked (400 invalid_grant else); each login gets a
                       new token living CONFIG token_ttl seconds (3599)
  GET  /compute/v1/projects/P[/zones/Z/instances/I | /zones/Z/machineTypes/T
       | /aggregated/instances]
  POST /compute/v1/projects/P/global/images?forceCreate=true  images.insert:
       the name a valid image name, sourceDisk one of an instance's disks,
       the hyperspool-job label set (400 else; 409 if the name exists)
  DELETE /compute/v1/projects/P/global/images/IMG
  GET  /compute/v1/projects/P/global/operations/OP   RUNNING, then DONE
  POST /v1/projects/P/builds   Cloud Build builds.create: one step, the
       gce_vm_image_export:release builder, -source_image= an image made
       here, -destination_uri= gs://CONFIG export_bucket/...tar.gz,
       -client_id=, -timeout=, a timeout and the gce-daisy-image-export tag
       (400 else, noted in the log); it "runs" the export: at the first
       poll the object appears in the store (a .tar.gz holding disk.raw,
       the image's disk's file, made by GNU tar), after build_polls polls
       the build ends as /_fake/mode says (SUCCESS, FAILURE or hang)
       Every tag must be a valid Cloud Build tag; the build keeps them.
       /_fake/mode "create_reply": "answer" (default); "lose": the build is
       made and starts (WORKING, its object written) but the connection is
       closed without a reply, once (mode "lost_copies": N builds made, as
       a POST some proxy retried); "hold": the build is made (QUEUED,
       counted in state "held") and the reply held until the mode is set
       back to "answer", then the build starts if nothing cancelled it and
       the connection is closed without a reply (the test kills exportd or
       cancels the job meanwhile): a reply lost either way. A build whose
       reply was lost then ends as mode "lost_outcome" says (SUCCESS,
       FAILURE), or runs on (WORKING, the default)
  GET  /v1/projects/P/builds?filter=tags%3D%22TAG%22[&pageToken=T]
       builds.list: only that filter form is parsed (400 for any other:
       a wrong filter fails the test); {"builds": [{"id", "status",
       "tags", "createTime"}], "nextPageToken"}, newest first,
       CONFIG/mode list_page builds a page (1 by default: pages are used);
       mode "list_flaky": N makes the next N lists answer 503
  GET  /v1/projects/P/builds/ID, POST /v1/projects/P/builds/ID:cancel
  GET  /storage/v1/b/B/o/O             object metadata (size)
  GET|HEAD /storage/v1/b/B/o/O?alt=media  the object, with Range (206)
  DELETE /storage/v1/b/B/o/O
Every API call must carry a live token the login gave. GET /_fake/state ->
{"logins", "media_bytes" (body bytes of media sent), "log", "images",
"objects", "builds" {ID: status}, "cancelled", "expired" (calls refused
for an expired token), "held" (creates whose reply was held)}; POST /_fake/mode {"build_outcome", "build_polls",
"fail_detail", "token_ttl", "build_flaky"} changes how builds end, how
long the next logins' tokens live, and makes the next build_flaky looks
at a build answer 503.

Usage: fakegcp.py CONFIG.json PORTFILE CERT KEY
CONFIG: {"client_email", "modulus" (hex, the key's RSA n), "project",
"export_bucket", "token_ttl", "objects": {"BUCKET/OBJECT": FILE},
"instances": [{"zone", "name", "machineType", "status", "networks": [NAME],
"uefi": bool, "gb", "disks": [{"name", "file"}] (the first boots)}],
"machineTypes": {"T": {"guestCpus", "memoryMb"}}}
"""
import base64, hashlib, json, os, re, shutil, ssl, subprocess, sys, tempfile, threading, time, uuid, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONF = json.load(open(sys.argv[1]))
N = int(CONF["modulus"], 16)
TOKENS = {}   # token -> expiry (time.time())
LOCK = threading.Lock()
STATE = {"logins": 0, "media_bytes": 0, "log": [], "cancelled": [], "expired": 0, "held": 0}
OBJECTS = dict(CONF.get("objects", {}))   # "BUCKET/OBJECT" -> file
IMAGES = {}   # name -> {"file", "labels"}
OPS = {}      # name -> polls left before DONE
BUILDS = {}   # id -> {"status", "image", "dest", "polls", ...}
MODE = {"build_outcome": "SUCCESS", "build_polls": 3, "create_reply": "answer", "list_page": 1,
        "fail_detail": "gce_vm_image_export: the export worker failed"}
WORK = tempfile.mkdtemp(prefix="fakegcp.", dir=os.path.dirname(os.path.abspath(sys.argv[2])))  # the test removes it
BUILDER = "gcr.io/compute-image-tools/gce_vm_image_export:release"
TERMINAL = ("SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED")
TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
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
        status = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND",
                  409: "ALREADY_EXISTS"}.get(code, "UNKNOWN")
        self.send(code, {"error": {"code": code, "message": msg, "status": status,
                                   "errors": [{"message": msg, "reason": status.lower()}]}})

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
        with LOCK:
            ttl = int(MODE.get("token_ttl", CONF.get("token_ttl", 3599)))
        tok = "fake-gcp-token-" + uuid.uuid4().hex
        with LOCK:
            TOKENS[tok] = time.time() + ttl
        self.send(200, {"access_token": tok, "expires_in": ttl, "token_type": "Bearer"})

    def authed(self):
        a = self.headers.get("Authorization") or ""
        tok = a[7:] if a.startswith("Bearer ") else ""
        with LOCK:
            exp = TOKENS.get(tok)
            if exp is not None and exp <= time.time():
                STATE["expired"] += 1
        if exp is None or exp <= time.time():
            self.err(401, "Request had invalid authentication credentials.")
            return False
        return True

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            return None

    def disk_file(self, url):
        for i in CONF["instances"]:
            for d in self.disks(i):
                if url == d["source"]:
                    return d.get("_file")
        return None

    def disks(self, i):
        p = CONF["project"]
        ds = i.get("disks") or [{"name": i["name"]}]
        out = []
        for k, d in enumerate(ds):
            out.append({"boot": k == 0, "index": k, "deviceName": d["name"], "type": "PERSISTENT",
                        "source": "https://www.googleapis.com/compute/v1/projects/%s/zones/%s/disks/%s" % (p, i["zone"], d["name"]),
                        "diskSizeGb": str(i.get("gb", 1)) if k == 0 else "1",
                        "guestOsFeatures": [{"type": "UEFI_COMPATIBLE"}] if i.get("uefi") and k == 0 else [],
                        "_file": d.get("file")})
        return out

    def op(self, target, polls=1):
        name = "operation-" + uuid.uuid4().hex[:16]
        with LOCK:
            OPS[name] = polls
        return {"kind": "compute#operation", "name": name, "status": "RUNNING", "targetLink": target}

    def image_insert(self, q):
        b = self.body()
        if b is None:
            return self.err(400, "bad JSON")
        name, disk = b.get("name", ""), b.get("sourceDisk", "")
        why = None
        if q.get("forceCreate") != ["true"]:
            why = "the disk is attached to an instance: forceCreate=true needed"
        elif not re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name):
            why = "Invalid value for field 'resource.name': '%s'" % name
        elif self.disk_file(disk) is None:
            why = "Invalid value for field 'resource.sourceDisk': '%s'" % disk
        elif not (b.get("labels") or {}).get("hyperspool-job"):
            why = "no hyperspool-job label"
        if why:
            self.note("image refused: " + why)
            return self.err(400, why)
        with LOCK:
            if name in IMAGES:
                return self.err(409, "The resource 'projects/%s/global/images/%s' already exists" % (CONF["project"], name))
            IMAGES[name] = {"file": self.disk_file(disk), "labels": b["labels"]}
        self.note("image created: " + name)
        self.send(200, self.op("projects/%s/global/images/%s" % (CONF["project"], name)))

    def build_create(self):
        b = self.body() or {}
        steps = b.get("steps") or []
        args = {}
        for a in (steps[0].get("args") or []) if len(steps) == 1 else []:
            m = re.fullmatch(r"-([a-z_]+)=(.*)", a)
            if m:
                args[m.group(1)] = m.group(2)
        pre = "projects/%s/global/images/" % CONF["project"]
        img = args.get("source_image", "")
        dest = re.fullmatch(r"gs://([^/]+)/(.+\.tar\.gz)", args.get("destination_uri", ""))
        why = None
        if len(steps) != 1 or steps[0].get("name") != BUILDER:
            why = "the one step must be " + BUILDER
        elif not img.startswith(pre) or img[len(pre):] not in IMAGES:
            why = "-source_image is not an image made here: " + img
        elif not dest or dest.group(1) != CONF.get("export_bucket"):
            why = "-destination_uri is not in the export bucket: " + args.get("destination_uri", "")
        elif not args.get("client_id") or not re.fullmatch(r"\d+s", args.get("timeout", "")) or \
                not re.fullmatch(r"\d+s", str(b.get("timeout", ""))) or "gce-daisy-image-export" not in (b.get("tags") or []):
            why = "-client_id, -timeout, a build timeout and the gce-daisy-image-export tag are needed"
        elif not all(isinstance(t, str) and TAG.fullmatch(t) for t in b.get("tags") or []):
            why = "a tag is not a valid Cloud Build tag: %r" % b.get("tags")
        if why:
            self.note("build refused: " + why)
            return self.err(400, why)
        with LOCK:
            how = MODE.get("create_reply", "answer")
            copies = int(MODE.get("lost_copies", 1)) if how != "answer" else 1
            if how == "lose":
                MODE["create_reply"] = "answer"
            elif how == "hold":
                STATE["held"] += 1
            bids = [str(uuid.uuid4()) for _ in range(copies)]
            for bid in bids:
                BUILDS[bid] = {"status": "QUEUED", "image": img[len(pre):], "dest": dest.group(1) + "/" + dest.group(2), "polls": 0,
                               "tags": list(b.get("tags") or []), "seq": len(BUILDS),
                               "createTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        for bid in bids:
            self.note("build created: %s %s -> %s" % (bid, img, args["destination_uri"]))
        if how in ("lose", "hold"):
            return self.reply_lost(bids, how)
        self.send(200, {"name": "operations/build/%s/%s" % (CONF["project"], base64.b64encode(bid.encode()).decode()),
                        "metadata": {"@type": "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata",
                                     "build": {"id": bid, "projectId": CONF["project"], "status": "QUEUED"}}})

    def reply_lost(self, bids, how):
        """builds.create's reply never arrives; the build(s) run on."""
        while how == "hold":
            time.sleep(0.05)
            with LOCK:
                how = MODE.get("create_reply")
        for bid in bids:
            with LOCK:
                b = BUILDS[bid]
                if b["status"] == "QUEUED":
                    b["status"] = MODE.get("lost_outcome", "WORKING")
                    if b["image"] in IMAGES:
                        self.export_write(b)
            self.note("build reply lost: " + bid)
        self.close_connection = True

    def build_list(self, q):
        if self.flaky("list_flaky", "build list"):
            return
        f = q.get("filter") or [""]
        m = TAG.fullmatch(f[0][6:-1]) if f[0].startswith('tags="') and f[0].endswith('"') else None
        tok = (q.get("pageToken") or [base64.b64encode(b"p0").decode()])[0]
        try:
            at = int(re.fullmatch(r"p(\d+)", base64.b64decode(tok, validate=True).decode()).group(1))
        except Exception:
            at = None
        if len(f) != 1 or not m or at is None:
            self.note("build list refused: %r" % q)
            return self.err(400, "Invalid filter or page token")
        tag = m.group(0)
        with LOCK:
            found = sorted(((k, v) for k, v in BUILDS.items() if tag in v["tags"]), key=lambda kv: -kv[1]["seq"])
            page = int(MODE.get("list_page", 1))
        out = {"builds": [{"id": k, "projectId": CONF["project"], "status": v["status"], "tags": v["tags"],
                           "createTime": v["createTime"]} for k, v in found[at:at + page]]}
        if at + page < len(found):
            out["nextPageToken"] = base64.b64encode(b"p%d" % (at + page)).decode()  # "=" padded, as Google's
        self.note("builds listed: tag %s, %d found" % (tag, len(out["builds"])))
        self.send(200, out)

    def export_write(self, b):
        """The export step: the image's disk as disk.raw in a .tar.gz."""
        src = IMAGES.get(b["image"], {}).get("file")
        d = tempfile.mkdtemp(dir=WORK)
        shutil.copyfile(src, os.path.join(d, "disk.raw"))
        out = os.path.join(WORK, uuid.uuid4().hex + ".tar.gz")
        subprocess.run(["tar", "--format=oldgnu", "-Sczf", out, "-C", d, "disk.raw"], check=True)
        shutil.rmtree(d)
        OBJECTS[b["dest"]] = out

    def flaky(self, key, what):
        """MODE[key] calls left to refuse with 503: True if this one was."""
        with LOCK:
            flaky = MODE.get(key, 0) > 0
            if flaky:
                MODE[key] -= 1
        if flaky:
            self.note(what + " refused: 503")
            self.err(503, "The service is currently unavailable.")
        return flaky

    def build_get(self, bid):
        if self.flaky("build_flaky", "build look"):
            return
        with LOCK:
            b = BUILDS.get(bid)
            if b is None:
                return self.err(404, "Requested entity was not found.")
            if b["status"] not in TERMINAL:
                b["polls"] += 1
                b["status"] = "WORKING"
                if b["polls"] == 1 and b["image"] in IMAGES:
                    self.export_write(b)
                if b["polls"] >= MODE["build_polls"] and MODE["build_outcome"] != "hang":
                    b["status"] = MODE["build_outcome"]
                    if b["status"] == "FAILURE":
                        b["statusDetail"] = "Build failed; check build logs for details"
                        b["failureInfo"] = {"type": "USER_BUILD_STEP", "detail": MODE["fail_detail"]}
            out = {k: v for k, v in b.items() if k not in ("polls", "dest", "image", "seq")}
        self.send(200, dict(out, id=bid, projectId=CONF["project"]))

    def build_cancel(self, bid):
        with LOCK:
            b = BUILDS.get(bid)
            if b is None:
                return self.err(404, "Requested entity was not found.")
            if b["status"] in TERMINAL:
                return self.err(400, "build is not running")
            b["status"] = "CANCELLED"
            STATE["cancelled"].append(bid)
        self.note("build cancelled: " + bid)
        self.send(200, {"id": bid, "status": "CANCELLED"})

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        p, q = u.path, urllib.parse.parse_qs(u.query)
        if p == "/token":
            return self.token()
        if p == "/_fake/mode":
            with LOCK:
                MODE.update(self.body() or {})
            return self.send(200, MODE)
        if not self.authed():
            return
        if p == "/compute/v1/projects/%s/global/images" % CONF["project"]:
            return self.image_insert(q)
        if p == "/v1/projects/%s/builds" % CONF["project"]:
            return self.build_create()
        m = re.fullmatch(r"/v1/projects/%s/builds/([^/]+):cancel" % CONF["project"], p)
        if m:
            return self.build_cancel(m.group(1))
        self.err(404, "no such endpoint")

    def do_DELETE(self):
        p = urllib.parse.urlsplit(self.path).path
        if not self.authed():
            return
        m = re.fullmatch(r"/compute/v1/projects/%s/global/images/([^/]+)" % CONF["project"], p)
        if m:
            with LOCK:
                gone = IMAGES.pop(m.group(1), None) is None
            if gone:
                return self.err(404, "The resource 'projects/%s/global/images/%s' was not found" % (CONF["project"], m.group(1)))
            self.note("image deleted: " + m.group(1))
            return self.send(200, self.op("projects/%s/global/images/%s" % (CONF["project"], m.group(1))))
        m = re.fullmatch(r"/storage/v1/b/([^/]+)/o/([^/]+)", p)
        if m:
            key = m.group(1) + "/" + urllib.parse.unquote(m.group(2))
            with LOCK:
                gone = OBJECTS.pop(key, None) is None
            if gone:
                return self.err(404, "No such object: " + key)
            self.note("object deleted: " + key)
            return self.send(204)
        self.err(404, "no such resource " + p)

    def do_HEAD(self):
        self.do_GET()

    def instance(self, i):
        p = CONF["project"]
        return {"name": i["name"], "status": i["status"], "zone": "https://www.googleapis.com/compute/v1/projects/%s/zones/%s" % (p, i["zone"]),
                "machineType": "https://www.googleapis.com/compute/v1/projects/%s/zones/%s/machineTypes/%s" % (p, i["zone"], i["machineType"]),
                "networkInterfaces": [{"name": "nic%d" % k, "network": "https://www.googleapis.com/compute/v1/projects/%s/global/networks/%s" % (p, n)}
                                      for k, n in enumerate(i["networks"])],
                "disks": [{k: v for k, v in d.items() if k != "_file"} for d in self.disks(i)]}

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        p, q = u.path, urllib.parse.parse_qs(u.query)
        if p == "/_fake/state":
            with LOCK:
                return self.send(200, dict(STATE, images=sorted(IMAGES), objects=sorted(OBJECTS),
                                           builds={k: v["status"] for k, v in BUILDS.items()}))
        if not self.authed():
            return
        pre = "/compute/v1/projects/" + CONF["project"]
        if p == pre:
            return self.send(200, {"name": CONF["project"], "kind": "compute#project"})
        m = re.fullmatch(pre + r"/global/operations/([^/]+)", p)
        if m:
            with LOCK:
                left = OPS.get(m.group(1))
                if left is not None and left > 0:
                    OPS[m.group(1)] = left - 1
            if left is None:
                return self.err(404, "no such operation")
            return self.send(200, {"kind": "compute#operation", "name": m.group(1), "status": "RUNNING" if left > 0 else "DONE"})
        m = re.fullmatch(r"/v1/projects/%s/builds/([^/]+)" % CONF["project"], p)
        if m:
            return self.build_get(m.group(1))
        if p == "/v1/projects/%s/builds" % CONF["project"]:
            return self.build_list(q)
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
            with LOCK:
                path = OBJECTS.get(key)
            if path is None:
                return self.err(404, "No such object: " + key)
            return self.media(path) if q.get("alt") == ["media"] else \
                self.send(200, {"bucket": m.group(1), "name": key.split("/", 1)[1],
                                "size": str(os.path.getsize(path))})
        self.err(404, "no such resource " + p)

    def media(self, path):
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


class TLSServer(ThreadingHTTPServer):
    """TLS handshakes in each connection's thread, not in the accepting
    one: a slow or killed client's handshake stalls only itself."""
    daemon_threads = True

    def finish_request(self, request, client_address):
        try:
            request = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)


def main():
    srv = TLSServer(("127.0.0.1", 0), H)
    srv.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.tls.load_cert_chain(sys.argv[3], sys.argv[4])
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    srv.serve_forever()


if __name__ == "__main__":
    main()
