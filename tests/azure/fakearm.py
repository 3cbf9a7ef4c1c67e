#!/usr/bin/env python3
"""fakearm.py - a FAKE of Azure Resource Manager and of the Microsoft
identity platform's token endpoint, for tests/bats/azure.bats. No emulator
of ARM exists; this plays the few calls the azure provider makes, and
checks what it receives so that the test can fail:

  POST /TENANT/oauth2/v2.0/token    client-credentials grant: grant_type,
                                    client_id, client_secret and the scope
                                    ARM/.default are checked (401 else)
  GET  /subscriptions/S             the subscription
  GET  .../virtualMachines[?statusOnly=true], .../virtualMachines/VM,
       .../VM/instanceView, .../locations/L/vmSizes,
       .../networkInterfaces/N, .../disks/D
  POST .../disks/D/beginGetAccess   202 + Azure-AsyncOperation + Location;
                                    the operation ends on its second poll
                                    with properties.output.accessSAS, a
                                    real SAS for the disk's blob in Azurite
  POST .../disks/D/endGetAccess     200: the grant is revoked
Every ARM call must carry the bearer token the login gave, and an
api-version. Test controls (no token needed):
  POST /_fake/fault {"begin": "fail" | "timeout" | ""}
  GET  /_fake/state -> {"active": [disk ids with a grant], "log": [...]}

Usage: fakearm.py CONFIG.json PORTFILE CERT KEY
CONFIG: {"tenant", "client_id", "secret_file", "blob_base" (https URL of
the Azurite account), "account_key", "subscription", "vms": [{"rg",
"name", "size", "location", "power", "nics": [{"name", "mac"}],
"disks": [{"name", "blob" (CONTAINER/BLOB), "gen", "lun" (null: OS)}]}],
"sizes": [{"name", "numberOfCores", "memoryInMB"}]}
"""
import json, os, re, ssl, sys, threading, uuid, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azstore  # noqa: E402  (the SAS of a blob, as Azure signs it)

CONF = json.load(open(sys.argv[1]))
SECRET = open(CONF["secret_file"]).read().strip()
TOKEN = "fake-arm-token-" + uuid.uuid4().hex
LOCK = threading.Lock()
STATE = {"active": [], "log": [], "fault": ""}
OPS = {}  # operation id -> {"disk", "polls", "timeout"}


def vm_id(vm):
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s" % (
        CONF["subscription"], vm["rg"], vm["name"])


def disk_id(vm, d):
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/disks/%s" % (
        CONF["subscription"], vm["rg"], d["name"])


def nic_id(vm, n):
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/networkInterfaces/%s" % (
        CONF["subscription"], vm["rg"], n["name"])


def instance_view(vm):
    return {"statuses": [{"code": "ProvisioningState/succeeded"},
                         {"code": "PowerState/" + vm["power"]}]}


def vm_json(vm, status=False):
    os_disk = [d for d in vm["disks"] if d.get("lun") is None][0]
    o = {"id": vm_id(vm), "name": vm["name"], "location": vm["location"],
         "type": "Microsoft.Compute/virtualMachines",
         "properties": {
             "hardwareProfile": {"vmSize": vm["size"]},
             "storageProfile": {
                 "osDisk": {"osType": "Linux", "name": os_disk["name"],
                            "diskSizeGB": os_disk.get("gb", 1),
                            "managedDisk": {"id": disk_id(vm, os_disk)}},
                 "dataDisks": [{"lun": d["lun"], "name": d["name"], "diskSizeGB": d.get("gb", 1),
                                "managedDisk": {"id": disk_id(vm, d)}}
                               for d in vm["disks"] if d.get("lun") is not None]},
             "networkProfile": {"networkInterfaces": [{"id": nic_id(vm, n)} for n in vm["nics"]]}}}
    if status:
        o["properties"]["instanceView"] = instance_view(vm)
    return o


def find_disk(did):
    for vm in CONF["vms"]:
        for d in vm["disks"]:
            if disk_id(vm, d).lower() == did.lower():
                return vm, d
    return None, None


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        sys.stderr.write("fakearm: " + (fmt % a) + "\n")

    def send(self, code, obj=None, headers=None):
        body = json.dumps(obj).encode() if obj is not None else b""
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def err(self, code, c, m):
        self.send(code, {"error": {"code": c, "message": m}})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def base(self):
        return "https://%s" % self.headers["Host"]

    def note(self, what):
        with LOCK:
            STATE["log"].append(what)

    # ---- login --------------------------------------------------------
    def token(self, tenant):
        f = urllib.parse.parse_qs(self.body().decode())
        one = lambda k: (f.get(k) or [""])[0]
        if tenant != CONF["tenant"]:
            return self.send(400, {"error": "invalid_request",
                                   "error_description": "AADSTS90002: Tenant not found."})
        if one("grant_type") != "client_credentials" or one("client_id") != CONF["client_id"] \
                or one("client_secret") != SECRET:
            self.note("login refused")
            return self.send(401, {"error": "invalid_client", "error_description":
                                   "AADSTS7000215: Invalid client secret provided."})
        if one("scope") != self.base() + "/.default":
            return self.send(400, {"error": "invalid_scope",
                                   "error_description": "scope %s is not ours" % one("scope")})
        self.note("login")
        self.send(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN})

    # ---- ARM ----------------------------------------------------------
    def authed(self, u):
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            self.err(401, "InvalidAuthenticationToken", "The access token is invalid.")
            return False
        if "api-version" not in urllib.parse.parse_qs(u.query):
            self.err(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
            return False
        return True

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        p = u.path
        if p == "/_fake/state":
            with LOCK:
                return self.send(200, {"active": STATE["active"], "log": STATE["log"]})
        if not self.authed(u):
            return
        q = urllib.parse.parse_qs(u.query)
        sub = "/subscriptions/" + CONF["subscription"]
        if p == sub:
            return self.send(200, {"id": sub, "subscriptionId": CONF["subscription"],
                                   "displayName": "hyperspool fake subscription", "state": "Enabled"})
        if p == sub + "/providers/Microsoft.Compute/virtualMachines":
            return self.send(200, {"value": [vm_json(v, "statusOnly" in q) for v in CONF["vms"]]})
        m = re.fullmatch(sub + r"/providers/Microsoft.Compute/locations/([^/]+)/vmSizes", p)
        if m:
            return self.send(200, {"value": CONF["sizes"]})
        m = re.fullmatch(sub + r"/providers/Microsoft.Compute/locations/([^/]+)/operations/([^/]+)", p)
        if m:
            return self.operation(m.group(2), "monitor" in q)
        for vm in CONF["vms"]:
            if p.lower() == vm_id(vm).lower():
                return self.send(200, vm_json(vm))
            if p.lower() == vm_id(vm).lower() + "/instanceview":
                return self.send(200, instance_view(vm))
            for n in vm["nics"]:
                if p.lower() == nic_id(vm, n).lower():
                    return self.send(200, {"id": nic_id(vm, n), "name": n["name"],
                                           "properties": {"macAddress": n["mac"]}})
            for d in vm["disks"]:
                if p.lower() == disk_id(vm, d).lower():
                    return self.send(200, {"id": disk_id(vm, d), "name": d["name"],
                                           "properties": {"hyperVGeneration": d.get("gen", "V1"),
                                                          "diskSizeBytes": d.get("gb", 1) << 30,
                                                          "diskState": "Reserved"}})
        self.err(404, "ResourceNotFound", "The Resource '%s' was not found." % p)

    def operation(self, opid, monitor):
        with LOCK:
            op = OPS.get(opid)
            if op is None:
                return self.err(404, "NotFound", "no operation " + opid)
            op["polls"] += 1
            done = not op["timeout"] and op["polls"] >= 2
        if not done:
            return self.send(202 if monitor else 200, None if monitor else {"status": "InProgress"},
                             {"Retry-After": "0"})
        vm, d = find_disk(op["disk"])
        container, blob = d["blob"].split("/", 1)
        url = "%s/%s/%s?%s" % (CONF["blob_base"], container, blob,
                               azstore.sas(CONF["blob_base"], CONF["account_key"], container, blob, 3600))
        if monitor:
            return self.send(200, {"accessSAS": url})
        self.send(200, {"status": "Succeeded", "properties": {"output": {"accessSAS": url}}})

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        p = u.path
        if p == "/_fake/fault":
            with LOCK:
                STATE["fault"] = json.loads(self.body() or b"{}").get("begin", "")
            return self.send(200, {})
        m = re.fullmatch(r"/([^/]+)/oauth2/v2.0/token", p)
        if m:
            return self.token(m.group(1))
        if not self.authed(u):
            return
        m = re.fullmatch(r"(.*/disks/[^/]+)/(beginGetAccess|endGetAccess)", p)
        vm, d = find_disk(m.group(1)) if m else (None, None)
        if d is None:
            return self.err(404, "ResourceNotFound", "The Resource '%s' was not found." % p)
        did = disk_id(vm, d)
        raw = self.body()
        if m.group(2) == "endGetAccess":
            with LOCK:
                if did in STATE["active"]:
                    STATE["active"].remove(did)
            self.note("end " + d["name"])
            return self.send(200, None)
        req = json.loads(raw or b"{}")
        if req.get("access") != "Read" or not (0 < int(req.get("durationInSeconds", 0)) <= 86400):
            return self.err(400, "InvalidParameter", "access must be Read with a duration")
        if vm["power"] != "deallocated":
            return self.err(409, "OperationNotAllowed", "Disk is attached to a running VM.")
        with LOCK:
            fault = STATE["fault"]
        if fault == "fail":
            self.note("begin refused " + d["name"])
            return self.err(409, "OperationNotAllowed",
                            "Cannot grant access: the disk is being snapshotted (injected).")
        opid = uuid.uuid4().hex
        with LOCK:
            OPS[opid] = {"disk": did, "polls": 0, "timeout": fault == "timeout"}
            if did not in STATE["active"]:
                STATE["active"].append(did)
        self.note("begin " + d["name"])
        op = "%s/subscriptions/%s/providers/Microsoft.Compute/locations/%s/operations/%s" % (
            self.base(), CONF["subscription"], vm["location"], opid)
        self.send(202, None, {"Azure-AsyncOperation": op + "?api-version=2023-04-02",
                              "Location": op + "?monitor=true&api-version=2023-04-02",
                              "Retry-After": "0"})


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
