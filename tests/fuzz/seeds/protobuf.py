#!/usr/bin/env python3
"""Writes the binary seeds of the ingest_session and import_request targets.

The messages are what a vigil-agent sends on a stream (Hello, then Batches) and what
`vigil import` sends, encoded by hand (protobuf's wire format is simple enough) so that the
seeds need no protoc. Run from tests/fuzz: python3 seeds/protobuf.py
"""

import struct

NOW_S = 1_700_000_000  # vigil_fuzz::NOW_MS / 1000


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def uint(field, n):
    return key(field, 0) + varint(n)


def sint64(field, n):  # int64: two's complement varint
    return key(field, 0) + varint(n)


def string(field, s):
    b = s.encode() if isinstance(s, str) else s
    return key(field, 2) + varint(len(b)) + b


message = string  # embedded message: length-delimited like a string


def packed_varints(field, ns):
    body = b"".join(varint(n) for n in ns)
    return key(field, 2) + varint(len(body)) + body


def packed_doubles(field, xs):
    body = b"".join(struct.pack("<d", x) for x in xs)
    return key(field, 2) + varint(len(body)) + body


def label(name, value):
    return string(1, name) + string(2, value)


def hello(host, labels=(), interval_ms=10_000, token=""):
    return (
        string(1, host)
        + string(2, "4c4c4544004d3510804bc4c04f4a4d32")
        + string(3, "Debian GNU/Linux 12 (bookworm)")
        + string(4, "6.1.0-18-amd64")
        + string(5, "x86_64")
        + string(6, "AMD EPYC 7B13")
        + uint(7, 8)
        + uint(8, 16 << 30)
        + string(9, "0.1.0")
        + b"".join(message(10, label(n, v)) for n, v in labels)
        + uint(11, interval_ms)
        + uint(12, 1)
        + (string(13, token) if token else b"")
    )


def definition(id_, name, labels=()):
    return uint(1, id_) + string(2, name) + b"".join(message(3, label(n, v)) for n, v in labels)


def scrape(ts_ms, ids, values):
    return sint64(1, ts_ms) + packed_varints(2, ids) + packed_doubles(3, values)


def batch(seq, definitions, scrapes):
    return (
        uint(1, seq)
        + b"".join(message(2, d) for d in definitions)
        + b"".join(message(3, s) for s in scrapes)
    )


def agent_message(hello_=None, batch_=None):
    if hello_ is not None:
        return message(1, hello_)
    return message(2, batch_)


def frames(*messages):
    return b"".join(varint(len(m)) + m for m in messages)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def ingest():
    now = NOW_S * 1000
    defs = [
        definition(1, "node_load1"),
        definition(2, "node_cpu_seconds_total", [("cpu", "0"), ("mode", "idle")]),
        definition(3, "node_filesystem_avail_bytes", [("mountpoint", "/"), ("fstype", "ext4")]),
    ]
    first = batch(1, defs, [scrape(now - 20_000, [1, 2, 3], [0.5, 1234.56, 5.0e10])])
    second = batch(
        2,
        [],
        [
            scrape(now - 10_000, [1, 2, 3], [0.75, 1236.01, 4.9e10]),
            scrape(now, [1, 2], [float("nan"), float("inf")]),
        ],
    )
    write(
        "corpus/ingest_session/agent_stream",
        bytes([0])
        + frames(
            agent_message(hello_=hello("web-1", [("env", "prod")])),
            agent_message(batch_=first),
            agent_message(batch_=second),
        ),
    )
    # An agent token for web-*: the Hello's host must match; undefined ids, a malformed
    # scrape and a sample far in the future are refused sample by sample.
    bad = batch(
        7,
        [definition(9, "bad name"), definition(4, "up", [("job", "node"), ("job", "x")])],
        [
            scrape(now, [1, 4, 9, 77], [1, 2, 3, 4]),
            scrape(now, [1, 2], [1.0]),
            scrape(now + 3_600_000, [1], [1.0]),
        ],
    )
    write(
        "corpus/ingest_session/refusals",
        bytes([3])
        + frames(
            agent_message(hello_=hello("web-2", token="agent-secret")),
            agent_message(batch_=batch(1, defs, [])),
            agent_message(batch_=bad),
        ),
    )
    # A client certificate for web-1 and a Hello for another host.
    write(
        "corpus/ingest_session/identity_mismatch",
        bytes([4]) + frames(agent_message(hello_=hello("db-1"))),
    )


def series(labels):
    return b"".join(message(1, label(n, v)) for n, v in labels)


def import_request():
    t = (NOW_S - 3600) * 1000
    request = (
        message(1, series([("__name__", "imp_requests_total"), ("host", "web-1"), ("path", "/a")]))
        + message(1, series([("__name__", "imp_temp_celsius"), ("host", "db-1"), ("sensor", "a")]))
        + message(1, series([("__name__", "imp_temp_celsius"), ("sensor", "b")]))
        + packed_varints(3, [0, 0, 1, 1, 2])
        + packed_varints(4, [t, t + 15_000, t, t + 15_500, t])
        + packed_doubles(5, [1, 5, float("nan"), float("-inf"), 21.25])
        + packed_varints(6, [3, 1, 3, 1, 1])
    )
    write("corpus/import_request/admin", bytes([1, 0x11]) + request)
    write("corpus/import_request/agent_web", bytes([3, 0]) + request)
    malformed = (
        message(1, series([("__name__", "m")]))
        + packed_varints(3, [0, 1])
        + packed_varints(4, [t])
        + packed_doubles(5, [1, 2])
        + packed_varints(6, [1, 1])
    )
    write("corpus/import_request/malformed", bytes([0, 0]) + malformed)


if __name__ == "__main__":
    ingest()
    import_request()
