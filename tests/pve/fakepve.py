#!/usr/bin/env python3
"""fakepve.py - a FAKE Proxmox VE API (pveproxy, https://HOST:PORT/api2/json)
for tests/bats/proxmox.bats. It is not Proxmox VE: nothing on this machine
can run a real PVE node. It answers the few calls hyperspool's proxmox
provider makes, as PVE's API documentation describes them, and checks what
it receives so a test can fail:

  every request must carry "Authorization: PVEAPIToken=USER@REALM!ID=SECRET"
  with the token of --token-id and the secret read from --secret-file (never
  from argv: the tests grep every process's command line for it); anything
  else is 401. POST /nodes/N/vzdump must name the VM's vmid, a storage
  this fake has, mode=snapshot and compress=zstd, else 400.

  GET    /version
  GET    /cluster/resources?type=vm
  GET    /nodes/N/qemu/V/config, /nodes/N/qemu/V/status/current
  POST   /nodes/N/vzdump          -> a UPID; the archive is written at once
                                     (tests/pve/mkvma.py, then zstd) into
                                     STORAGE/dump/; the task "runs" while the
                                     file --hold exists
  GET    /nodes/N/tasks/UPID/status, /nodes/N/tasks/UPID/log
  DELETE /nodes/N/tasks/UPID      -> stops the task
  GET    /nodes/N/storage/S/content?content=backup
  DELETE /nodes/N/storage/S/content/VOLID

--vms is a JSON file: [{"vmid", "node", "name", "status", "config": {...},
"raw": PATH-of-the-disk-for-vzdump}]. --storage NAME=DIR (repeatable): a
storage's directory. Requests are logged to --log as "METHOD PATH" (the
path unescaped).
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "fakes"))
import fakehttp  # noqa: E402

A = None
TASKS = {}
LOCK = threading.Lock()


def vms():
    with open(A.vms) as f:
        return json.load(f)


def vm(node, vmid):
    for v in vms():
        if v["node"] == node and str(v["vmid"]) == str(vmid):
            return v
    return None


def config_text(cfg):
    return "".join("%s: %s\n" % (k, v) for k, v in cfg.items()
                   if k != "digest").encode()


def vzdump(node, form):
    vmid = form.get("vmid", [""])[0]
    v = vm(node, vmid)
    storage = form.get("storage", [""])[0]
    if v is None or storage not in A.storages or \
            form.get("mode") != ["snapshot"] or \
            form.get("compress") != ["zstd"]:
        return None
    stamp = time.strftime("%Y_%m_%d-%H_%M_%S", time.gmtime())
    name = "vzdump-qemu-%s-%s.vma" % (vmid, stamp)
    dump = os.path.join(A.storages[storage], "dump")
    os.makedirs(dump, exist_ok=True)
    conf = os.path.join(dump, name + ".conf.tmp")
    with open(conf, "wb") as f:
        f.write(config_text(v["config"]))
    args = [sys.executable, A.mkvma, os.path.join(dump, name),
            "--config", conf]
    for key, path in v["raw"].items():
        args += ["--dev", "drive-%s=%s" % (key, path)]
    subprocess.run(args, check=True)
    os.unlink(conf)
    subprocess.run(["zstd", "-q", "--rm", os.path.join(dump, name)],
                   check=True)
    upid = "UPID:%s:%08X:%08X:%08X:vzdump:%s:%s:" % (
        node, os.getpid(), len(TASKS), int(time.time()), vmid, A.token_id)
    with LOCK:
        TASKS[upid] = {"archive": os.path.join(
            "/var/lib/vz/dump", name + ".zst"), "stopped": False,
            "exit": "OK"}
    return upid


class H(fakehttp.Handler):
    protocol_version = "HTTP/1.1"

    def reply(self, code, data, errors=None):
        body = {"data": data}
        if errors:
            body["errors"] = errors
        self.send_body(code, json.dumps(body).encode(),
                       "application/json;charset=UTF-8")

    def authorised(self):
        want = "PVEAPIToken=%s=%s" % (A.token_id, A.secret)
        if self.headers.get("Authorization") != want:
            self.send_response(401, "authentication failure")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return False
        return True

    def handle_any(self, method):
        u = urllib.parse.urlsplit(self.path)
        with open(A.log, "a") as f:
            f.write("%s %s\n" % (method, urllib.parse.unquote(u.path)))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if not self.authorised():
            return
        if not u.path.startswith("/api2/json/"):
            return self.reply(404, None)
        p = [urllib.parse.unquote(x) for x in u.path[11:].split("/")]
        q = urllib.parse.parse_qs(u.query)
        if method == "GET" and p == ["version"]:
            return self.reply(200, {"version": "8.2.4", "release": "8.2",
                                    "repoid": "fakepve"})
        if method == "GET" and p == ["cluster", "resources"]:
            out = [{"id": "lxc/900", "type": "lxc", "vmid": 900,
                    "node": "pve1", "name": "ct", "status": "running"}]
            for v in vms():
                c = v["config"]
                out.append({"id": "qemu/%s" % v["vmid"], "type": "qemu",
                            "vmid": v["vmid"], "node": v["node"],
                            "name": v["name"], "status": v["status"],
                            "maxcpu": int(c.get("cores", 1)) *
                            int(c.get("sockets", 1)),
                            "maxmem": int(c.get("memory", 512)) << 20,
                            "maxdisk": 64 << 20})
            return self.reply(200, out)
        if len(p) >= 4 and p[0] == "nodes" and p[2] == "qemu":
            v = vm(p[1], p[3])
            if v is None:
                return self.reply(500, None, {"vmid": "no such VM"})
            if p[4:] == ["config"]:
                return self.reply(200, v["config"])
            if p[4:] == ["status", "current"]:
                return self.reply(200, {"status": v["status"],
                                        "vmid": v["vmid"]})
        if method == "POST" and len(p) == 3 and p[0] == "nodes" and \
                p[2] == "vzdump":
            upid = vzdump(p[1], urllib.parse.parse_qs(body))
            if upid is None:
                return self.reply(400, None, {"vzdump": "bad parameters: " +
                                              body})
            return self.reply(200, upid)
        if len(p) >= 4 and p[0] == "nodes" and p[2] == "tasks":
            t = TASKS.get(p[3])
            if t is None:
                return self.reply(404, None, {"upid": "no such task"})
            if method == "DELETE" and len(p) == 4:
                if not t["stopped"]:
                    t["stopped"], t["exit"] = True, "interrupted by signal"
                return self.reply(200, None)
            if p[4:] == ["status"]:
                if not t["stopped"] and not os.path.exists(A.hold):
                    t["stopped"] = True
                st = {"status": "stopped" if t["stopped"] else "running",
                      "upid": p[3]}
                if t["stopped"]:
                    st["exitstatus"] = t["exit"]
                return self.reply(200, st)
            if p[4:] == ["log"]:
                return self.reply(200, [
                    {"n": 1, "t": "INFO: starting new backup job: vzdump"},
                    {"n": 2, "t": "INFO: creating vzdump archive '%s'" %
                     t["archive"]}])
        if len(p) >= 5 and p[0] == "nodes" and p[2] == "storage" and \
                p[4] == "content" and p[3] in A.storages:
            dump = os.path.join(A.storages[p[3]], "dump")
            if method == "GET" and len(p) == 5:
                names = sorted(os.listdir(dump)) if os.path.isdir(dump) else []
                return self.reply(200, [{"volid": "%s:backup/%s" % (p[3], n),
                                         "content": "backup"}
                                        for n in names])
            if method == "DELETE" and len(p) == 6:
                vol = p[5]
                pre = p[3] + ":backup/"
                name = vol[len(pre):] if vol.startswith(pre) else ""
                if not name or "/" in name or name.startswith("."):
                    return self.reply(400, None, {"volume": vol})
                try:
                    os.unlink(os.path.join(dump, name))
                except FileNotFoundError:
                    return self.reply(404, None, {"volume": "no such volume"})
                return self.reply(200, None)
        return self.reply(501, None, {"path": "not in this fake: " + u.path})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_DELETE(self):
        self.handle_any("DELETE")


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--token-id", required=True)
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--vms", required=True)
    ap.add_argument("--storage", action="append", default=[])
    ap.add_argument("--hold", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--mkvma", required=True)
    A = ap.parse_args()
    with open(A.secret_file) as f:
        A.secret = f.read().strip()
    A.storages = dict(s.split("=", 1) for s in A.storage)
    fakehttp.serve_tls(H, A.cert, A.key, A.port_file)


if __name__ == "__main__":
    main()
