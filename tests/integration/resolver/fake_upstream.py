#!/usr/bin/env python3
"""A hostile upstream for tests/integration/test_resolver.sh (loopback only).

fake_upstream.py ADDR PORT: answers every UDP query for NAME with A 198.51.100.7, but
first sends three forgeries a careful forwarder must ignore: the right answer with a
wrong ID, from another port, and for another question. Names starting with "slow"
are answered after 300 ms (to see TCP answers come back out of order).
Prints "ready" when listening; stops on SIGTERM.
"""
import random
import select
import socket
import struct
import sys
import time

GOOD = bytes([198, 51, 100, 7])


def question_end(msg):
    off = 12
    while msg[off] != 0:
        off += 1 + msg[off]
    return off + 5


def answer(query, qid=None, question=None):
    end = question_end(query)
    q = question if question is not None else query[12:end]
    qid = struct.unpack("!H", query[:2])[0] if qid is None else qid
    head = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0)
    rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + GOOD
    return head + q + rr


def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((addr, port))
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind((addr, 0))
    print("ready", flush=True)
    delayed = []
    while True:
        timeout = None
        if delayed:
            timeout = max(0.0, delayed[0][0] - time.monotonic())
        ready, _, _ = select.select([sock], [], [], timeout)
        now = time.monotonic()
        while delayed and delayed[0][0] <= now:
            _, pkt, peer = delayed.pop(0)
            sock.sendto(pkt, peer)
        if not ready:
            continue
        query, peer = sock.recvfrom(4096)
        if len(query) < 17:
            continue
        qid = struct.unpack("!H", query[:2])[0]
        end = question_end(query)
        wrong_q = b"\x05wrong\x07example\x04test\x00" + query[end - 4:end]
        sock.sendto(answer(query, qid=(qid + 1 + random.randrange(65535)) % 65536), peer)
        other.sendto(answer(query), peer)
        sock.sendto(answer(query, question=wrong_q), peer)
        if query[13:17].lower() == b"slow":
            delayed.append((now + 0.3, answer(query), peer))
        else:
            time.sleep(0.02)  # the forgeries arrive first
            sock.sendto(answer(query), peer)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
