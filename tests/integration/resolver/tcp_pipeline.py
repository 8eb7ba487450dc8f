#!/usr/bin/env python3
"""TCP client for tests/integration/test_resolver.sh (RFC 7766 pipelining).

tcp_pipeline.py ADDR PORT NAME... : sends one A query per NAME on one TCP connection,
all at once, then reads every answer. Prints, in the order the answers arrived,
"NAME RCODE ADDRESS" (ADDRESS of the first A record, or "-"). Exits 1 if an answer is
missing or its ID matches no query.
"""
import socket
import struct
import sys


def encode(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def first_a(msg):
    off = 12
    while msg[off] != 0:
        off += 1 + msg[off]
    off += 5
    ancount = struct.unpack("!H", msg[6:8])[0]
    for _ in range(ancount):
        while True:
            if msg[off] & 0xC0 == 0xC0:
                off += 2
                break
            if msg[off] == 0:
                off += 1
                break
            off += 1 + msg[off]
        rtype, _, _, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10
        if rtype == 1:
            return ".".join(str(b) for b in msg[off:off + 4])
        off += rdlen
    return "-"


def main():
    addr, port, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    s = socket.create_connection((addr, port), timeout=5)
    ids = {}
    batch = b""
    for i, name in enumerate(names):
        qid = 0x1000 + i
        ids[qid] = name
        msg = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + encode(name) + b"\x00\x01\x00\x01"
        batch += struct.pack("!H", len(msg)) + msg
    s.sendall(batch)
    for _ in names:
        length = struct.unpack("!H", read_exact(s, 2))[0]
        msg = read_exact(s, length)
        qid = struct.unpack("!H", msg[:2])[0]
        if qid not in ids:
            print("unknown id %d" % qid)
            return 1
        print(ids.pop(qid), msg[3] & 0x0F, first_a(msg), flush=True)
    s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
