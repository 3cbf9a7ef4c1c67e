#!/usr/bin/env python3
# verify.py - checks what receiver.py got, for tests/bats/webhook.bats:
# every delivery's X-Hyperspool-Signature is HMAC-SHA256(SECRET,
# TIMESTAMP "." BODY), no body holds the secret, and no delivery came
# twice. Prints one "TYPE DELIVERY" line per delivery; exit 1 on a fault.
# usage: verify.py RECEIVED SECRET
import hashlib
import hmac
import json
import sys

received, secret = sys.argv[1], sys.argv[2]
seen = set()
bad = 0
for line in open(received):
    rec = json.loads(line)
    h = {k.lower(): v for k, v in rec["headers"].items()}
    body, ts = rec["body"], h.get("x-hyperspool-timestamp", "")
    want = "sha256=" + hmac.new(secret.encode(), (ts + "." + body).encode(),
                                hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, h.get("x-hyperspool-signature", "")):
        print("bad signature:", h.get("x-hyperspool-delivery"), file=sys.stderr)
        bad += 1
    if secret in body:
        print("the secret is in a body", file=sys.stderr)
        bad += 1
    d = h.get("x-hyperspool-delivery")
    if d in seen:
        print("delivered twice:", d, file=sys.stderr)
        bad += 1
    seen.add(d)
    ev = json.loads(body)
    if ev["type"] != h.get("x-hyperspool-event"):
        print("event header and body differ:", d, file=sys.stderr)
        bad += 1
    print(ev["type"], d)
sys.exit(1 if bad else 0)
