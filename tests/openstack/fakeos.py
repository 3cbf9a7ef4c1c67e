#!/usr/bin/python3
"""fakeos.py - a FAKE of OpenStack's Nova, Cinder and Neutron for
tests/bats/openstack.bats. It is not OpenStack: it answers the few calls the
openstack provider makes (and only those), over TLS, from a JSON
description of servers and volumes. Keystone and Glance are NOT faked: the
test runs Debian's keystone (whose catalogue points here and at Glance) and
glance-api; this fake asks that Keystone whether each token it receives is
valid (GET /v3/auth/tokens with its own admin token), and so does nginx in
front of Glance through this fake's /_validate (as keystonemiddleware
would).

What it checks, so that the test can fail: every call's X-Auth-Token (401
unless Keystone says it is valid), Nova's microversion header, Cinder's
force flag for an in-use volume. createImage and os-volume_upload_image
create an image in the real Glance (queued), answer with its id, and
upload the server's disk file into it a moment later (as Nova and Cinder
do), copying the base image's properties. A server marked "corrupt" gets
its snapshot damaged in Glance's file store after Glance computed its hash
(the test of the hash check). A base image property x_revoke_tokens makes
it revoke, in Keystone, the token of the first download of the snapshot,
as if it had expired. A server marked "lose_reply" has its first
createImage done but its reply lost (the connection closed), as a network
cut would. Every call is logged, one line each, to --log; every token it
saw valid to --log.tokens (the test looks for them where no secret may be).

Usage: fakeos.py --cert C --key K --port P --port-file F
                 --glance http://127.0.0.1:G --keystone http://127.0.0.1:K
                 --project PROJECT_ID --world W.json --log L
                 --store GLANCE_FILE_STORE_DIR
(Keystone's admin password in the environment, FAKEOS_ADMIN_PASSWORD)
"""
import argparse
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "fakes"))
import fakehttp  # noqa: E402

A = None
WORLD = {}
ADMIN = None	# this fake's own Keystone token, to validate others
SEEN = set()	# tokens found valid
PENDING = {}	# image id -> Event: set once its stored file is corrupted
REVOKE = set()	# image ids whose first download finds every token expired
LOCK = threading.Lock()
PAGE = 2	# servers per page of /servers/detail


def log(line):
    with LOCK, open(A.log, "a") as f:
        f.write(line + "\n")


def glance(method, path, body=None, ctype="application/json"):
    req = urllib.request.Request(A.glance + path, method=method, data=body)
    if body is not None:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, timeout=60) as r:
        data = r.read()
        return json.loads(data) if data else None


def keystone(method, path, headers, body=None):
    req = urllib.request.Request(A.keystone + path, method=method, data=body,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers


def admin_login():
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "admin", "domain": {"name": "Default"},
                 "password": os.environ["FAKEOS_ADMIN_PASSWORD"]}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    st, h = keystone("POST", "/v3/auth/tokens",
                     {"Content-Type": "application/json"},
                     json.dumps(body).encode())
    assert st == 201, "admin login: HTTP %d" % st
    return h["X-Subject-Token"]


def token_valid(tok):
    if not tok:
        return False
    st, _ = keystone("GET", "/v3/auth/tokens",
                     {"X-Auth-Token": ADMIN, "X-Subject-Token": tok})
    if st == 200 and tok not in SEEN:
        SEEN.add(tok)
        with LOCK, open(A.log + ".tokens", "a") as f:
            f.write(tok + "\n")
    return st == 200


def make_image(name, src, fmt, props, corrupt=False):
    """An image in the real Glance, filled from file src a moment later.
    corrupt: once Glance has it (and its hash), one byte of its stored file
    is flipped, before any download of it is let through (/_validate)."""
    body = {"name": name, "disk_format": fmt, "container_format": "bare"}
    body.update(props)
    img = glance("POST", "/v2/images", json.dumps(body).encode())
    if corrupt:
        PENDING[img["id"]] = threading.Event()
    if props.get("x_revoke_tokens"):
        REVOKE.add(img["id"])

    def upload():
        time.sleep(0.5)
        with open(src, "rb") as f:
            glance("PUT", "/v2/images/%s/file" % img["id"], f.read(),
                   "application/octet-stream")
        if corrupt:
            with open(os.path.join(A.store, img["id"]), "r+b") as f:
                f.seek(1000)
                b = f.read(1)
                f.seek(1000)
                f.write(bytes([b[0] ^ 0xff]))
            log("corrupted %s in Glance's store" % img["id"])
            PENDING[img["id"]].set()
        log("uploaded %s %s" % (img["id"], name))
    threading.Thread(target=upload, daemon=True).start()
    return img["id"]


def server_view(s):
    v = {"id": s["id"], "name": s["name"], "status": s["status"],
         "flavor": s["flavor"],
         "image": {"id": s["image"]} if s.get("image") else "",
         "os-extended-volumes:volumes_attached":
             [{"id": v} for v in s.get("volumes", [])]}
    return v


class H(fakehttp.Handler):
    protocol_version = "HTTP/1.1"

    def reply(self, code, obj=None, headers=()):
        data = json.dumps(obj).encode() if obj is not None else b""
        self.send_body(code, data, "application/json", headers)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"null")

    def authed(self):
        if token_valid(self.headers.get("X-Auth-Token")):
            return True
        log("401 %s %s (token %s)" % (self.command, self.path,
            "missing" if self.headers.get("X-Auth-Token") is None else
            "refused by Keystone"))
        self.reply(401, {"error": {"code": 401, "message": "The request you "
                   "have made requires authentication."}})
        return False

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        p = u.path
        if p == "/_validate":	# nginx's auth_request for Glance
            m = re.match(r"/v2/images/([^/]+)/file",
                         self.headers.get("X-Original-URI", ""))
            if m and m.group(1) in PENDING:
                PENDING[m.group(1)].wait(30)
            tok = self.headers.get("X-Auth-Token")
            if m and m.group(1) in REVOKE and tok:
                REVOKE.discard(m.group(1))
                token_valid(tok)	# seen (the secret hunt looks for it)
                st, _ = keystone("DELETE", "/v3/auth/tokens", {
                    "X-Auth-Token": ADMIN, "X-Subject-Token": tok})
                log("token revoked in Keystone (HTTP %d)" % st)
            code = 204 if token_valid(tok) else 401
            log("validate %d" % code)
            return self.reply(code)
        if not self.authed():
            return
        log("GET %s" % self.path)
        servers = WORLD["servers"]
        if p.startswith("/compute/"):
            if self.headers.get("OpenStack-API-Version") != "compute 2.47":
                return self.reply(406, {"computeFault": {"message": "no "
                                  "microversion 2.47 asked"}})
        if p == "/compute/v2.1/servers/detail":
            # pages of PAGE servers after the marker, as Nova's
            # osapi_max_limit does, with a "next" link while more remain
            out = [server_view(s) for s in servers
                   if "name" not in q or re.search(q["name"][0], s["name"])]
            if "marker" in q:
                ids = [s["id"] for s in out]
                out = out[ids.index(q["marker"][0]) + 1:]
            page = {"servers": out[:PAGE]}
            if len(out) > PAGE:
                page["servers_links"] = [{"rel": "next", "href": "https://"
                                          "elsewhere.invalid/servers/detail"}]
            return self.reply(200, page)
        m = re.fullmatch(r"/compute/v2\.1/servers/([^/]+)", p)
        if m:
            for s in servers:
                if s["id"] == m.group(1):
                    return self.reply(200, {"server": server_view(s)})
            return self.reply(404, {"itemNotFound": {"code": 404, "message":
                              "Instance %s could not be found." % m.group(1)}})
        m = re.fullmatch(r"/volume/v3/%s/volumes/([^/]+)" % A.project, p)
        if m and m.group(1) in WORLD["volumes"]:
            v = WORLD["volumes"][m.group(1)]
            return self.reply(200, {"volume": {
                "id": m.group(1), "status": v["status"], "bootable": "true",
                "attachments": [{"server_id": v["server"],
                                 "device": v["device"]}]}})
        if p == "/network/v2.0/ports":
            out = [{"mac_address": n["mac"], "network_id": n["network"],
                    "device_id": s["id"]}
                   for s in servers for n in s.get("ports", [])
                   if s["id"] == q.get("device_id", [""])[0]]
            return self.reply(200, {"ports": out})
        self.reply(404, {"itemNotFound": {"code": 404, "message": "no " + p}})

    def do_POST(self):
        p = urllib.parse.urlsplit(self.path).path
        if not self.authed():
            return
        b = self.body()
        m = re.fullmatch(r"/compute/v2\.1/servers/([^/]+)/action", p)
        if m and "createImage" in b:
            s = [s for s in WORLD["servers"] if s["id"] == m.group(1)][0]
            if s["status"] not in ("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED"):
                return self.reply(409, {"conflictingRequest": {"message":
                                  "Cannot 'createImage' instance while it is "
                                  "in vm_state %s" % s["status"]}})
            iid = make_image(b["createImage"]["name"], s["disk"], s["format"],
                             s.get("properties", {}), s.get("corrupt", False))
            log("createImage %s %s %s" % (s["name"], b["createImage"]["name"],
                iid))
            if s.pop("lose_reply", False):	# made, but the reply is lost
                self.close_connection = True
                return
            return self.reply(202, {"image_id": iid})
        m = re.fullmatch(r"/volume/v3/%s/volumes/([^/]+)/action" % A.project, p)
        if m and "os-volume_upload_image" in b:
            v = WORLD["volumes"][m.group(1)]
            a = b["os-volume_upload_image"]
            if v["status"] == "in-use" and a.get("force") is not True:
                return self.reply(400, {"badRequest": {"message": "Invalid "
                                  "volume: Volume status must be available"}})
            iid = make_image(a["image_name"], v["file"],
                             a.get("disk_format", "raw"), v.get("properties",
                                                                {}))
            log("upload_image %s %s %s" % (m.group(1), a["image_name"], iid))
            return self.reply(202, {"os-volume_upload_image": {
                "id": m.group(1), "image_id": iid,
                "image_name": a["image_name"]}})
        self.reply(404, {"itemNotFound": {"message": "no " + p}})


def main():
    global A, WORLD
    ap = argparse.ArgumentParser()
    for k in ("cert", "key", "port", "port-file", "glance", "keystone",
              "project", "world", "log", "store"):
        ap.add_argument("--" + k, required=True)
    A = ap.parse_args()
    with open(A.world) as f:
        WORLD = json.load(f)
    global ADMIN
    ADMIN = admin_login()
    fakehttp.serve_tls(H, A.cert, A.key, A.port_file, int(A.port))


if __name__ == "__main__":
    main()
