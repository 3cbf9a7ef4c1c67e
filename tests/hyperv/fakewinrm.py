#!/usr/bin/env python3
"""fakewinrm.py - a FAKE WinRM endpoint (WS-Management over HTTPS,
https://HOST:PORT/wsman) standing for a Hyper-V host, for
tests/bats/hyperv.bats. It is not Windows: no Hyper-V host can run here.
It speaks the WinRM remote shell protocol (Create, Command, Send, Receive,
Signal, Delete) and checks what it receives, so a test can fail:

  - Basic authentication with --user and the password read from
    --password-file (never argv), else 401;
  - Content-Type application/soap+xml, the SOAP 1.2 envelope, the
    wsa:Action, wsa:To and wsman:ResourceURI (the cmd shell) of each
    request, the ShellId selector after Create, else a SOAP fault;
  - Command must be exactly powershell.exe with the arguments
    "-NoProfile -NonInteractive -EncodedCommand B64", B64 a script whose
    first line is "# hyperspool:NAME" (getvm, export, remove, vms,
    check); each decoded script is appended to --scripts (the test checks
    that no job data ever appears there);
  - the script's input comes on stdin (Send, End="true") as JSON; it is
    appended to --inputs.

Then it plays the script against --vms (a JSON list: Name, Id, State,
Generation, ProcessorCount, MemoryStartup, HardDrives, NetworkAdapters,
and "disk": a local VHDX file standing for the VM's disk): getvm finds one
VM by exact Id or exact Name (exit 3 otherwise), export copies the disk to
MOUNT/<last part of path>/<Name>/Virtual Hard Disks/ (the path must lie
under --export-dir, the share as the host names it; MOUNT is
--export-mount, where the test mounted that share), remove deletes it, vms
lists, check answers who it is. Exports still present are listed by the
test in MOUNT. Export-VM "runs" (the answer waits) while --export-hold
exists, and fails (exit 5) when --export-fails does.
"""
import argparse
import base64
import json
import os
import shutil
import sys
import time
import uuid
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "fakes"))
import fakehttp  # noqa: E402

S = "http://www.w3.org/2003/05/soap-envelope"
A = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
W = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
R = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
T = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
ARGS = None
SHELLS = {}


def q(ns, tag):
    return "{%s}%s" % (ns, tag)


def envelope(action, body_xml):
    return ('<s:Envelope xmlns:s="%s" xmlns:a="%s" xmlns:w="%s" '
            'xmlns:rsp="%s"><s:Header><a:Action>%s</a:Action>'
            '<a:MessageID>uuid:%s</a:MessageID></s:Header>'
            '<s:Body>%s</s:Body></s:Envelope>' %
            (S, A, W, R, action, uuid.uuid4(), body_xml)).encode()


def fault(text):
    return envelope(A + "/fault",
                    '<s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code>'
                    '<s:Reason><s:Text xml:lang="en-US">%s</s:Text>'
                    '</s:Reason></s:Fault>' % text)


def vms():
    with open(ARGS.vms) as f:
        return json.load(f)


def public(vm):
    return {k: v for k, v in vm.items() if k != "disk"}


def play(name, data):
    """The script's stdout and exit code."""
    if name == "check":
        return json.dumps({"host": "HV01", "ps": "5.1.17763.1"}), 0
    if name == "vms":
        return json.dumps([dict(public(v), Path="C:\\VMs\\" + v["Name"],
                                DiskBytes=os.path.getsize(v["disk"]))
                           for v in vms()]), 0
    if name == "getvm":
        found = [v for v in vms() if ("id" in data and v["Id"] == data["id"])
                 or ("id" not in data and v["Name"] == data.get("name"))]
        if len(found) != 1:
            return "", 3
        return json.dumps(public(found[0]), indent=2), 0
    prefix = ARGS.export_dir + "\\"
    path = data.get("path", "")
    if not path.startswith(prefix) or "\\" in path[len(prefix):] or \
            path[len(prefix):] in ("", ".", ".."):
        return "", 9
    local = os.path.join(ARGS.export_mount, path[len(prefix):])
    if name == "export":
        vm = [v for v in vms() if v["Id"] == data.get("id")]
        if len(vm) != 1:
            return "", 4
        vm = vm[0]
        vhd = os.path.join(local, vm["Name"], "Virtual Hard Disks")
        os.makedirs(vhd)
        os.makedirs(os.path.join(local, vm["Name"], "Virtual Machines"))
        for d in vm["HardDrives"]:
            base = d["Path"].split("\\")[-1]
            shutil.copyfile(vm["disk"], os.path.join(vhd, base))
        while os.path.exists(ARGS.export_hold):
            time.sleep(0.05)	# Export-VM "runs" while the file exists
        if os.path.exists(ARGS.export_fails):
            return "", 5
        return '{"exported":true}', 0
    if name == "remove":
        shutil.rmtree(local, ignore_errors=True)
        return '{"removed":true}', 0
    return "", 1


class H(fakehttp.Handler):
    protocol_version = "HTTP/1.1"

    def send(self, code, body):
        self.send_body(code, body, "application/soap+xml;charset=UTF-8")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        want = "Basic " + base64.b64encode(
            ("%s:%s" % (ARGS.user, ARGS.password)).encode()).decode()
        if self.headers.get("Authorization") != want:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="WSMAN"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path != "/wsman" or not (self.headers.get("Content-Type") or
                                         "").startswith("application/soap+xml"):
            return self.send(400, fault("not a WS-Man request"))
        try:
            env = ET.fromstring(raw)
        except ET.ParseError:
            return self.send(400, fault("not XML"))
        h = env.find(q(S, "Header"))
        body = env.find(q(S, "Body"))
        if env.tag != q(S, "Envelope") or h is None or body is None:
            return self.send(400, fault("not a SOAP 1.2 envelope"))
        action = (h.findtext(q(A, "Action")) or "").strip()
        if h.findtext(q(W, "ResourceURI")) != R + "/cmd" or \
                not (h.findtext(q(A, "To")) or "").endswith("/wsman"):
            return self.send(400, fault("wrong ResourceURI or To"))
        sel = h.find(q(W, "SelectorSet"))
        shell = None
        if sel is not None:
            for s in sel:
                if s.get("Name") == "ShellId":
                    shell = s.text
        if action == T + "Create":
            sid = str(uuid.uuid4()).upper()
            SHELLS[sid] = {}
            return self.send(200, envelope(
                T + "CreateResponse", '<rsp:Shell><rsp:ShellId>%s'
                '</rsp:ShellId></rsp:Shell>' % sid))
        if shell not in SHELLS:
            return self.send(400, fault("no such shell"))
        sh = SHELLS[shell]
        if action == R + "/Command":
            cl = body.find(q(R, "CommandLine"))
            args = (cl.findtext(q(R, "Arguments")) or "") if cl is not None \
                else ""
            pre = "-NoProfile -NonInteractive -EncodedCommand "
            if cl is None or cl.findtext(q(R, "Command")) != "powershell.exe" \
                    or not args.startswith(pre):
                return self.send(400, fault("unexpected command line"))
            try:
                script = base64.b64decode(args[len(pre):],
                                          validate=True).decode("utf-16-le")
            except Exception:
                return self.send(400, fault("bad -EncodedCommand"))
            first = script.split("\n", 1)[0]
            if not first.startswith("# hyperspool:"):
                return self.send(400, fault("not one of the known scripts"))
            with open(ARGS.scripts, "a") as f:
                f.write(script + "\n----\n")
            sh["cmd"] = str(uuid.uuid4()).upper()
            sh["name"] = first[len("# hyperspool:"):].strip()
            sh["stdin"] = b""
            return self.send(200, envelope(
                R + "/CommandResponse", '<rsp:CommandResponse><rsp:CommandId>'
                '%s</rsp:CommandId></rsp:CommandResponse>' % sh["cmd"]))
        if action == R + "/Send":
            st = body.find(q(R, "Send") + "/" + q(R, "Stream"))
            if st is None or st.get("Name") != "stdin" or \
                    st.get("CommandId") != sh.get("cmd"):
                return self.send(400, fault("bad Send"))
            sh["stdin"] += base64.b64decode(st.text or "")
            if st.get("End") == "true":
                with open(ARGS.inputs, "a") as f:
                    f.write(sh["stdin"].decode() + "\n")
                out, code = play(sh["name"], json.loads(sh["stdin"]))
                sh["out"], sh["code"] = out.encode(), code
            return self.send(200, envelope(R + "/SendResponse",
                                           "<rsp:SendResponse/>"))
        if action == R + "/Receive":
            ds = body.find(q(R, "Receive") + "/" + q(R, "DesiredStream"))
            if ds is None or ds.get("CommandId") != sh.get("cmd") or \
                    "out" not in sh:
                return self.send(400, fault("bad Receive"))
            b64 = base64.b64encode(sh["out"]).decode()
            return self.send(200, envelope(
                R + "/ReceiveResponse",
                '<rsp:ReceiveResponse><rsp:Stream Name="stdout" '
                'CommandId="%s">%s</rsp:Stream><rsp:Stream Name="stdout" '
                'CommandId="%s" End="true"></rsp:Stream>'
                '<rsp:CommandState CommandId="%s" State="%s/CommandState/Done">'
                '<rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState>'
                '</rsp:ReceiveResponse>' % (sh["cmd"], b64, sh["cmd"],
                                             sh["cmd"], R, sh["code"])))
        if action == R + "/Signal":
            return self.send(200, envelope(R + "/SignalResponse",
                                           "<rsp:SignalResponse/>"))
        if action == T + "Delete":
            del SHELLS[shell]
            return self.send(200, envelope(T + "DeleteResponse", ""))
        return self.send(400, fault("unknown action " + action))


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    for a in ("cert", "key", "port-file", "user", "password-file", "vms",
              "export-dir", "export-mount", "scripts", "inputs",
              "export-fails", "export-hold"):
        ap.add_argument("--" + a, required=True)
    ARGS = ap.parse_args()
    with open(ARGS.password_file) as f:
        ARGS.password = f.read().rstrip("\n")
    fakehttp.serve_tls(H, ARGS.cert, ARGS.key, ARGS.port_file)


if __name__ == "__main__":
    main()
