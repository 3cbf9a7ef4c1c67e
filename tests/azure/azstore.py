#!/usr/bin/env python3
"""azstore.py - a small Azure Blob client for the tests (standard library
only): it talks to Azurite, the real Azure Storage emulator, with SharedKey
signed requests (as any Azure SDK would), to create a container, a page
blob and its pages, and makes service SAS tokens for a blob. It is not a
fake: it is the test's uploader, and Azurite checks every signature.

  azstore.py URL-OF-ACCOUNT KEY upload CONTAINER BLOB FILE
      a page blob of FILE's size holding only FILE's non-zero 512-byte
      pages (found by SEEK_DATA/SEEK_HOLE, then checked page by page in
      runs of up to 4 MiB); prints the bytes written
  azstore.py URL-OF-ACCOUNT KEY sas CONTAINER BLOB SECONDS
      prints a read-only service SAS query for the blob
  azstore.py URL-OF-ACCOUNT KEY block CONTAINER BLOB FILE
      a block blob (not a disk: the provider must refuse it)

URL-OF-ACCOUNT is path-style, https://127.0.0.1:PORT/ACCOUNT (Azurite);
the CA to trust is $AZ_CA.
"""
import base64, datetime, hashlib, hmac, http.client, os, ssl, sys, urllib.parse

VERSION = "2020-10-02"


def conn(u):
    ctx = ssl.create_default_context(cafile=os.environ.get("AZ_CA"))
    return http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=60)


def sign(key, account, method, path, headers, query, length):
    ms = sorted((k.lower(), v) for k, v in headers.items() if k.lower().startswith("x-ms-"))
    canon_h = "".join("%s:%s\n" % (k, v) for k, v in ms)
    canon_r = "/" + account + path
    for k in sorted(query):
        canon_r += "\n%s:%s" % (k.lower(), query[k])
    sts = "\n".join([method, "", "", str(length) if length else "", "",
                     headers.get("Content-Type", ""), "", "", "", "", "",
                     headers.get("Range", "")]) + "\n" + canon_h + canon_r
    sig = base64.b64encode(hmac.new(base64.b64decode(key), sts.encode(), hashlib.sha256).digest())
    return "SharedKey %s:%s" % (account, sig.decode())


def req(base, key, method, sub, query=None, headers=None, body=b""):
    u = urllib.parse.urlsplit(base)
    account = u.path.strip("/").split("/")[0]
    path = u.path.rstrip("/") + sub
    query = query or {}
    h = {"x-ms-version": VERSION,
         "x-ms-date": datetime.datetime.now(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")}
    h.update(headers or {})
    h["Authorization"] = sign(key, account, method, path, h, query, len(body))
    c = conn(u)
    q = urllib.parse.urlencode(query)
    c.request(method, path + ("?" + q if q else ""), body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        sys.exit("%s %s: HTTP %d %s" % (method, path, r.status, data[:300]))
    return r, data


def upload(base, key, container, blob, path):
    req(base, key, "PUT", "/" + container, {"restype": "container"}) if not container_exists(base, key, container) else None
    size = os.path.getsize(path)
    req(base, key, "PUT", "/%s/%s" % (container, blob), headers={
        "x-ms-blob-type": "PageBlob", "x-ms-blob-content-length": str(size)})
    written = 0
    step = 4 * 1024 * 1024
    with open(path, "rb") as f:
        fd = f.fileno()
        off = 0
        while off < size:
            try:
                data_at = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:
                break
            hole_at = os.lseek(fd, data_at, os.SEEK_HOLE)
            a = data_at - data_at % 512
            while a < hole_at:
                n = min(step, hole_at - a, size - a)
                n += (-n) % 512
                buf = os.pread(fd, n, a)
                buf += b"\0" * (n - len(buf))
                # only the non-zero pages, in runs
                i = 0
                while i < n:
                    if buf[i:i + 512].count(0) == 512:
                        i += 512
                        continue
                    j = i
                    while j < n and buf[j:j + 512].count(0) != 512:
                        j += 512
                    req(base, key, "PUT", "/%s/%s" % (container, blob), {"comp": "page"},
                        {"x-ms-page-write": "update",
                         "x-ms-range": "bytes=%d-%d" % (a + i, a + j - 1)}, buf[i:j])
                    written += j - i
                    i = j
                a += n
            off = hole_at
    print(written)


def container_exists(base, key, container):
    u = urllib.parse.urlsplit(base)
    try:
        req(base, key, "GET", "/" + container, {"restype": "container"})
        return True
    except SystemExit:
        return False


def sas(base, key, container, blob, seconds):
    u = urllib.parse.urlsplit(base)
    account = u.path.strip("/").split("/")[0]
    exp = (datetime.datetime.now(datetime.timezone.utc) +
           datetime.timedelta(seconds=int(seconds))).strftime("%Y-%m-%dT%H:%M:%SZ")
    sv = "2020-12-06"
    fields = ["r", "", exp, "/blob/%s/%s/%s" % (account, container, blob), "", "", "https",
              sv, "b", "", "", "", "", "", "", ""]
    sig = base64.b64encode(hmac.new(base64.b64decode(key), "\n".join(fields).encode(),
                                    hashlib.sha256).digest()).decode()
    return urllib.parse.urlencode({"sv": sv, "sr": "b", "sp": "r", "se": exp, "spr": "https",
                                   "sig": sig})


def block(base, key, container, blob, path):
    if not container_exists(base, key, container):
        req(base, key, "PUT", "/" + container, {"restype": "container"})
    with open(path, "rb") as f:
        body = f.read()
    req(base, key, "PUT", "/%s/%s" % (container, blob), headers={"x-ms-blob-type": "BlockBlob"},
        body=body)


if __name__ == "__main__":
    base, key, cmd = sys.argv[1:4]
    if cmd == "upload":
        upload(base, key, *sys.argv[4:7])
    elif cmd == "sas":
        print(sas(base, key, *sys.argv[4:7]))
    elif cmd == "block":
        block(base, key, *sys.argv[4:7])
    else:
        sys.exit("unknown command " + cmd)
