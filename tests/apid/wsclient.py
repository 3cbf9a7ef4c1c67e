#!/usr/bin/env python3
# wsclient.py - a minimal RFC 6455 client for tests/bats/apid.bats (the
# standard library only): handshake with a bearer token, check
# Sec-WebSocket-Accept, send a ping and expect its pong, then print every
# text frame (one event a line) until COUNT frames or a frame whose text
# contains UNTIL; then send a close and expect the close back.
# usage: wsclient.py PORT TOKEN PATH UNTIL [COUNT]
import base64, hashlib, os, socket, struct, sys

port, token, path, until = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
count = int(sys.argv[5]) if len(sys.argv) > 5 else 1 << 30
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

s = socket.create_connection(("127.0.0.1", port), timeout=120)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
           f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
           f"Authorization: Bearer {token}\r\n\r\n").encode())
buf = b""
while b"\r\n\r\n" not in buf:
    d = s.recv(4096)
    if not d:
        sys.exit("closed during the handshake")
    buf += d
head, buf = buf.split(b"\r\n\r\n", 1)
lines = head.decode().split("\r\n")
if " 101 " not in lines[0]:
    sys.exit("handshake refused: " + lines[0])
want = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
hdrs = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
if hdrs.get("sec-websocket-accept") != want:
    sys.exit("bad Sec-WebSocket-Accept")

def send(op, payload=b""):
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    hdr = bytes([0x80 | op]) + (bytes([0x80 | n]) if n < 126 else
                                bytes([0x80 | 126]) + struct.pack(">H", n))
    s.sendall(hdr + mask + body)

def frame():
    global buf
    while True:
        if len(buf) >= 2:
            op, n, off = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if n == 126 and len(buf) >= 4:
                n, off = struct.unpack(">H", buf[2:4])[0], 4
            elif n == 127 and len(buf) >= 10:
                n, off = struct.unpack(">Q", buf[2:10])[0], 10
            if n < 126 or off > 2:
                if buf[1] & 0x80:
                    sys.exit("server frames must not be masked")
                if len(buf) >= off + n:
                    data, buf = buf[off:off + n], buf[off + n:]
                    return op, data
        d = s.recv(65536)
        if not d:
            sys.exit("connection closed")
        buf += d

send(0x9, b"hello")
seen = 0
pong = False
while seen < count or not pong:
    op, data = frame()
    if op == 0xA:
        if data != b"hello":
            sys.exit("pong without the ping's data")
        pong = True
        print("pong", flush=True)
    elif op == 0x1:
        print(data.decode(), flush=True)
        seen += 1
        if until in data.decode():
            count = seen
    elif op == 0x8:
        sys.exit("closed by the server")
if not pong:
    sys.exit("no pong")
send(0x8, struct.pack(">H", 1000))
while True:
    op, data = frame()
    if op == 0x8:
        print("closed", flush=True)
        break
