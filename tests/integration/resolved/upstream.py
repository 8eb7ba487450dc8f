#!/usr/bin/env python3
"""The "internet" of test_resolved.sh: the global DNS server of the simulated host's
systemd-resolved, on loopback inside the test's namespace.

upstream.py ADDR PORT LOG: answers every UDP query with A 203.0.113.80 (an A query) or
an empty NOERROR (anything else), and appends each question's name to LOG, so that the
test can see that mesh names never leave for it. Prints "ready"; stops on SIGTERM.
"""
import signal
import socket
import struct
import sys

ANSWER = bytes([203, 0, 113, 80])


def main():
    addr, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((addr, port))
    print("ready", flush=True)
    with open(log, "a", buffering=1) as out:
        while True:
            query, peer = sock.recvfrom(4096)
            if len(query) < 12:
                continue
            off, labels = 12, []
            while off < len(query) and query[off] != 0:
                n = query[off]
                labels.append(query[off + 1 : off + 1 + n].decode("ascii", "replace"))
                off += 1 + n
            end = off + 5
            if end > len(query):
                continue
            qtype = struct.unpack("!H", query[off + 1 : off + 3])[0]
            out.write(".".join(labels).lower() + "\n")
            qid = query[:2]
            flags = 0x8180 | (query[2] & 0x01) << 8  # QR, RD copied, RA
            an = 1 if qtype == 1 else 0
            head = qid + struct.pack("!HHHHH", flags, 1, an, 0, 0)
            rr = b""
            if an:
                rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + ANSWER
            sock.sendto(head + query[12:end] + rr, peer)


if __name__ == "__main__":
    main()
