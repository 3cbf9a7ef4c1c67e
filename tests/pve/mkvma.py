#!/usr/bin/env python3
"""mkvma.py - write a Proxmox VE vzdump archive (VMA) for the tests.

Written from Proxmox's public specification of the format (vma_spec.txt in
pve-qemu), independently of hyperspool's reader (source/vma.c), so that the
tests check the reader against the specification, not against itself:

  header: "VMA\\0", version 1 (be32), uuid (16), ctime (be64), md5 (16) of
  the header_size bytes with the md5 field zeroed, blob_buffer_offset,
  blob_buffer_size, header_size (be32, multiples of 512),
  config_names[256] at 2044 and config_data[256] at 3068 (be32 offsets into
  the blob buffer), dev_info[256] at 4096 (32 bytes each: name offset be32,
  reserved, size be64), blob buffer at 12288: a 0 byte, then blobs of a
  little-endian 16-bit length and the bytes (strings with their NUL).
  extents: "VMAE", reserved (2), block_count (be16), uuid, md5 of the 512
  bytes with the md5 field zeroed, 59 block infos (be64: dev_id << 56 |
  mask << 32 | cluster), then the 4 KiB blocks whose mask bits are set, in
  order. A cluster is 64 KiB: 16 blocks; zero blocks are not stored.

usage: mkvma.py OUT [--config FILE] [--dev NAME=RAWFILE]... [--break WHAT]
  WHAT (hostile archives): md5 (header checksum wrong), magic, truncate (cut
  inside the last extent's data), beyond (a cluster past its device's
  size), header-size (header_size of 64 MiB), extent-md5, uuid, count
"""
import argparse
import hashlib
import os
import struct
import sys
import uuid as uuidlib

CLUSTER = 65536
BLOCK = 4096
PER_EXTENT = 59


def blob_table():
    buf = bytearray(b"\0")

    def add(data):
        off = len(buf)
        buf.extend(struct.pack("<H", len(data)))
        buf.extend(data)
        return off
    return buf, add


def header(uid, configs, devs, brk):
    buf, add = blob_table()
    names, datas = [0] * 256, [0] * 256
    for i, (name, data) in enumerate(configs):
        names[i] = add(name.encode() + b"\0")
        datas[i] = add(data)
    devinfo = []
    for name, size in devs:
        devinfo.append((add(name.encode() + b"\0"), size))
    blob_off = 12288
    blob_size = (len(buf) + 511) // 512 * 512
    hsize = blob_off + blob_size
    h = bytearray(hsize)
    h[0:4] = b"VMA\0" if brk != "magic" else b"VMX\0"
    struct.pack_into(">I", h, 4, 1)
    h[8:24] = uid
    struct.pack_into(">Q", h, 24, 1700000000)
    struct.pack_into(">III", h, 48, blob_off, blob_size,
                     hsize if brk != "header-size" else 64 << 20)
    for i in range(256):
        struct.pack_into(">I", h, 2044 + 4 * i, names[i])
        struct.pack_into(">I", h, 3068 + 4 * i, datas[i])
    for i, (noff, size) in enumerate(devinfo):
        struct.pack_into(">IIQ", h, 4096 + 32 * (i + 1), noff, 0, size)
    h[blob_off:blob_off + len(buf)] = buf
    md5 = hashlib.md5(bytes(h)).digest()
    if brk == "md5":
        md5 = bytes(16)
    h[32:48] = md5
    return bytes(h)


def clusters(devs_data):
    """(dev_id, cluster number, mask, blocks) for every cluster, in order."""
    for dev_id, data in enumerate(devs_data, start=1):
        for c in range((len(data) + CLUSTER - 1) // CLUSTER):
            mask, blocks = 0, []
            for j in range(16):
                b = data[c * CLUSTER + j * BLOCK:c * CLUSTER + (j + 1) * BLOCK]
                b = b.ljust(BLOCK, b"\0")
                if b.count(0) != BLOCK:
                    mask |= 1 << j
                    blocks.append(b)
            yield dev_id, c, mask, blocks


def extent(uid, infos, brk):
    h = bytearray(512)
    h[0:4] = b"VMAE"
    nblocks = sum(len(b) for _, _, _, b in infos)
    struct.pack_into(">H", h, 6, nblocks + (1 if brk == "count" else 0))
    h[8:24] = uid if brk != "uuid" else bytes(16)
    for i, (dev, c, mask, _) in enumerate(infos):
        struct.pack_into(">Q", h, 40 + 8 * i, dev << 56 | mask << 32 | c)
    md5 = hashlib.md5(bytes(h)).digest()
    h[24:40] = md5 if brk != "extent-md5" else bytes(16)
    return bytes(h) + b"".join(b"".join(b) for _, _, _, b in infos)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--config")
    ap.add_argument("--dev", action="append", default=[])
    ap.add_argument("--break", dest="brk")
    a = ap.parse_args()
    uid = uuidlib.uuid4().bytes
    configs = []
    if a.config:
        with open(a.config, "rb") as f:
            configs.append(("qemu-server.conf", f.read()))
        configs.append(("qemu-server.fw", b"[OPTIONS]\nenable: 0\n"))
    devs, datas = [], []
    for d in a.dev:
        name, path = d.split("=", 1)
        with open(path, "rb") as f:
            data = f.read()
        devs.append((name, len(data)))
        datas.append(data)
    with open(a.out, "wb") as out:
        out.write(header(uid, configs, devs, a.brk))
        infos = list(clusters(datas))
        if a.brk == "beyond":
            dev, c, mask, blocks = infos[-1]
            infos.append((dev, devs[dev - 1][1] // CLUSTER + 1, 1,
                          [b"\x55" * BLOCK]))
        chunks = [infos[i:i + PER_EXTENT]
                  for i in range(0, len(infos), PER_EXTENT)]
        for n, ch in enumerate(chunks):
            out.write(extent(uid, ch, a.brk if n == 0 or a.brk in
                             ("beyond",) else None))
        if a.brk == "truncate":
            out.truncate(out.tell() - BLOCK // 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
