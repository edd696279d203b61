#!/usr/bin/env python3
"""Helpers for storage_peers.sh: run a command and measure it, summarise query timings,
print the final table.

    storage_peers.py measure OUT.json -- CMD ARGS...   # wall time, CPU time, peak RSS of CMD
    storage_peers.py points RESPONSE.json              # "<series> <points>" of a query answer
    storage_peers.py table RESULTS.env                 # the side-by-side table

RESULTS.env holds `key=value` lines written by storage_peers.sh (later lines win).
"""
import json
import os
import resource
import subprocess
import sys
import time


def measure(out_path, cmd):
    """Runs cmd (stdout passes through) and writes its wall time, CPU time and peak RSS."""
    started = time.monotonic()
    status = subprocess.call(cmd)
    seconds = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out_path, "w") as out:
        json.dump({
            "status": status,
            "seconds": seconds,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "max_rss_kb": usage.ru_maxrss,
        }, out)
    return status


def points(path):
    """Series and points in a Prometheus API answer (matrix, vector or scalar)."""
    data = json.load(open(path))["data"]
    result = data["result"]
    if data["resultType"] == "matrix":
        return len(result), sum(len(s["values"]) for s in result)
    if data["resultType"] == "vector":
        return len(result), len(result)
    return 1, 1


def load(path):
    values = {}
    for line in open(path):
        line = line.rstrip("\n")
        if "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt_int(v):
    return "—" if v is None else f"{v:,.0f}"


def table(path):
    r = load(path)
    systems = [("vigil", "Vigil"), ("vm", "VictoriaMetrics"), ("prom", "Prometheus")]
    samples = num(r.get("samples"))
    rows = []

    def row(label, key, render, better="lower"):
        vals = {s: num(r.get(f"{s}.{key}")) for s, _ in systems}
        cells = [render(vals[s], s) for s, _ in systems]
        v, m = vals["vigil"], vals["vm"]
        if v and m:
            ratio = v / m
            ok = ratio >= 1 if better == "higher" else ratio <= 1
            cells.append(f"{ratio:.2f}× {'✓' if ok else '✗'}")
        else:
            cells.append("—")
        # Against the better of VictoriaMetrics and Prometheus: at or below both (at or
        # above both for ingest) is a ✓.
        peers = [vals[s] for s in ("vm", "prom") if vals[s]]
        if v and peers:
            best = max(peers) if better == "higher" else min(peers)
            ratio = v / best
            ok = ratio >= 1 if better == "higher" else ratio <= 1
            cells.append(f"{ratio:.2f}× {'✓' if ok else '✗'}")
        else:
            cells.append("—")
        rows.append([label] + cells)

    row("ingest, samples/s", "ingest_sps", lambda v, s: fmt_int(v), better="higher")
    row("bytes per sample on disk", "disk_bytes",
        lambda v, s: "—" if v is None or not samples else f"{v / samples:.2f}")
    row("disk after compaction, MB", "disk_bytes",
        lambda v, s: "—" if v is None else f"{v / 1e6:,.0f}")
    row("peak RSS during load, MB", "load_rss_kb",
        lambda v, s: "—" if v is None else f"{v / 1024:,.0f}")
    row("peak RSS incl. queries, MB", "end_rss_kb",
        lambda v, s: "—" if v is None else f"{v / 1024:,.0f}")
    for q in r.get("queries", "").split():
        def cell(v, s, q=q):
            if v is None:
                return "failed" if r.get(f"{s}.q.{q}.error") else "—"
            return f"{v * 1000:.1f} ms ({r.get(f'{s}.q.{q}.points', '?')} pts)"
        row(r.get(f"q.{q}.label", q), f"q.{q}.median", cell)

    header = ["figure"] + [name for _, name in systems] + ["Vigil / VM", "Vigil / better peer"]
    widths = [max(len(str(x[i])) for x in rows + [header]) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(header))
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for x in rows:
        print(line(x))


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "measure" and sys.argv[3] == "--":
        sys.exit(measure(sys.argv[2], sys.argv[4:]))
    if len(sys.argv) == 3 and sys.argv[1] == "points":
        print(*points(sys.argv[2]))
        return
    if len(sys.argv) == 3 and sys.argv[1] == "table":
        table(sys.argv[2])
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
