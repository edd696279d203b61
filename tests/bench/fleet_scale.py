#!/usr/bin/env python3
"""Helper of fleet_scale.sh.

  sample PID OUT        every second until PID exits (or this is killed): one JSON line with
                        the time, VmRSS/VmHWM (kB), and CPU ticks (utime+stime) per thread
                        name of PID (digits stripped, so `rocksdb:low0` and `rocksdb:low1`
                        add up under `rocksdb:low`).
  threads OUT SPLIT_S   CPU by thread name from a sample file: cores used before and after
                        SPLIT_S seconds since the first sample, busiest first.
  summary LOADGEN.json  the fleet figures of one loadgen run, as NAME=VALUE lines.
  table RESULTS         the fleet table from the NAME=VALUE lines of fleet_scale.sh.
"""
import json
import os
import re
import sys
import time


def read(path):
    with open(path) as f:
        return f.read()


def sample(pid, out):
    hz = os.sysconf("SC_CLK_TCK")
    t0 = time.time()
    with open(out, "w") as f:
        while True:
            try:
                status = read(f"/proc/{pid}/status")
                threads = {}
                tids = {}
                for tid in os.listdir(f"/proc/{pid}/task"):
                    try:
                        stat = read(f"/proc/{pid}/task/{tid}/stat")
                    except OSError:
                        continue
                    name = stat[stat.index("(") + 1:stat.rindex(")")]
                    fields = stat[stat.rindex(")") + 2:].split()
                    ticks = int(fields[11]) + int(fields[12])
                    key = re.sub(r"[0-9]+$", "", name) or name
                    threads[key] = threads.get(key, 0) + ticks
                    tids[tid] = [name, ticks]
            except OSError:
                return
            kb = {k: int(v.split()[0]) for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(.*)$", status, re.M)}
            row = {"t": round(time.time() - t0, 2), "rss_kb": kb.get("VmRSS", 0),
                   "hwm_kb": kb.get("VmHWM", 0), "hz": hz, "threads": threads, "tids": tids,
                   "nthreads": len(os.listdir(f"/proc/{pid}/task"))}
            f.write(json.dumps(row) + "\n")
            f.flush()
            time.sleep(1)


def rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def tokio_split(rs, workers):
    """Tokio names its workers and its blocking-pool threads alike; the workers are the
    first threads it starts (lowest ids). Renames the others `tokio (blocking)`."""
    for r in rs:
        tokio = sorted((int(t) for t, (n, _) in r.get("tids", {}).items() if n.startswith("tokio")))
        blocking = set(tokio[workers:])
        if not blocking:
            continue
        moved = sum(r["tids"][str(t)][1] for t in blocking)
        name = r["tids"][str(tokio[0])][0]
        r["threads"][name] = r["threads"].get(name, 0) - moved
        r["threads"]["tokio (blocking)"] = moved


def threads(path, split_s):
    rs = rows(path)
    if len(rs) < 2:
        print("no samples")
        return
    tokio_split(rs, os.cpu_count() or 1)
    split_s = float(split_s)
    mid = min(rs, key=lambda r: abs(r["t"] - split_s))
    first, last = rs[0], rs[-1]
    hz = first["hz"]
    names = sorted(set(last["threads"]) | set(first["threads"]),
                   key=lambda n: -(last["threads"].get(n, 0) - first["threads"].get(n, 0)))

    def cores(a, b, n):
        dt = b["t"] - a["t"]
        return (b["threads"].get(n, 0) - a["threads"].get(n, 0)) / hz / dt if dt > 0 else 0.0

    print(f"  {'thread':<18} {'cores 0-%.0fs' % mid['t']:>14} {'cores %.0f-%.0fs' % (mid['t'], last['t']):>16} {'CPU-s total':>12}")
    for n in names:
        total = (last["threads"].get(n, 0) - first["threads"].get(n, 0)) / hz
        if total < 0.5:
            continue
        print(f"  {n:<18} {cores(first, mid, n):>14.2f} {cores(mid, last, n):>16.2f} {total:>12.1f}")
    peak = max(rs, key=lambda r: r["rss_kb"])
    print(f"  RSS: {mid['rss_kb'] / 1024:.0f} MB at {mid['t']:.0f} s, peak {peak['rss_kb'] / 1024:.0f} MB at {peak['t']:.0f} s,"
          f" {last['rss_kb'] / 1024:.0f} MB at the end; threads {last['nthreads']}")
    marks = [r for r in rs if int(r["t"]) % 30 == 0]
    print("  RSS over time: " + ", ".join(f"{r['t']:.0f}s {r['rss_kb'] / 1024:.0f}MB" for r in marks))


def summary(path):
    d = json.load(open(path))
    hosts, per = d["hosts"], d["series_per_host"]
    load = hosts * per / (d["interval_ms"] / 1000)
    ivs = d.get("intervals", [])
    live = d["live"]

    # Keeping up: every host's series exist and 99 % of the batches acknowledged in the
    # interval were acknowledged within one scrape interval of being due.
    def keeps_up(i):
        return i["created"] >= hosts and i["ack_latency_ms"]["p99"] <= d["interval_ms"]
    # Intervals after the last send are the drain: leave out the final partial one.
    full = [i for i in ivs if i["seconds"] > 0.9 * (ivs[0]["seconds"] if ivs else 1)]
    caught = None
    for k in range(len(full)):
        if all(keeps_up(i) for i in full[k:]):
            caught = full[k]["end_s"] - full[k]["seconds"]
            break
    steady = [i for i in full if caught is not None and i["end_s"] - i["seconds"] >= caught]
    out = {
        "hosts": hosts,
        "load_sps": round(load),
        "acked_sps": round(live["samples_per_s"]),
        "acked": d["acked_samples"],
        "expected": d["expected_samples"],
        "p50_ms": live["ack_latency_ms"]["p50"],
        "p90_ms": live["ack_latency_ms"]["p90"],
        "p99_ms": live["ack_latency_ms"]["p99"],
        "max_ms": live["ack_latency_ms"]["max"],
        "create_s": round(d["streams"]["create_seconds"], 1),
        "caught_up_s": "never" if caught is None else round(caught),
        "steady_p99_ms": max((i["ack_latency_ms"]["p99"] for i in steady), default="-"),
        "errors": len(d["errors"]),
        "rejected": d["rejected_samples"],
    }
    for k, v in out.items():
        print(f"{k}={v}")


def read_results(path):
    """The KEY=VALUE lines of a results file, as a dict (later lines win)."""
    r = {}
    for line in open(path):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            r[k] = v
    return r


def table(path):
    r = read_results(path)

    def g(k, fmt="{}"):
        v = r.get(k)
        if v in (None, ""):
            return "-"
        try:
            return fmt.format(float(v))
        except ValueError:
            return v

    rows = [
        ("hosts", "hosts", "{:.0f}"),
        ("active series", "series", "{:,.0f}"),
        ("samples/s offered", "load_sps", "{:,.0f}"),
        ("samples/s acknowledged (live phase)", "acked_sps", "{:,.0f}"),
        ("samples acknowledged / expected", "acked_of", "{}"),
        ("ack latency p50 / p99 / max, ms", "lat", "{}"),
        ("worst 10 s interval p99 once keeping up, ms", "steady_p99_ms", "{:,.0f}"),
        ("first connection to last host's series created, s", "create_s", "{:.1f}"),
        ("first connection to keeping up (p99 <= interval), s", "caught_up_s", "{}"),
        ("server CPU, cores (whole run)", "cores", "{:.2f}"),
        ("server CPU-s", "cpu_s", "{:.0f}"),
        ("RSS peak / end, MB", "rss", "{}"),
        ("RSS at end per active series, bytes", "bytes_per_series", "{:,.0f}"),
        ("loadgen CPU-s", "loadgen_cpu_s", "{:.0f}"),
        ("load average at end", "loadavg", "{}"),
    ]
    for who in ("vigil", "vm"):
        if f"{who}.acked" in r:
            r[f"{who}.acked_of"] = f"{r[f'{who}.acked']} / {r[f'{who}.expected']}"
            r[f"{who}.lat"] = " / ".join(
                f"{float(r[f'{who}.{p}_ms']):,.0f}" for p in ("p50", "p99", "max"))
            r[f"{who}.rss"] = f"{int(r[f'{who}.hwm_kb']) / 1024:,.0f} / {int(r[f'{who}.rss_kb']) / 1024:,.0f}"
    print(f"| {'':<52} | {'Vigil':>22} | {'VictoriaMetrics':>22} |")
    print(f"|{'-' * 54}|{'-' * 24}|{'-' * 24}|")
    for label, key, fmt in rows:
        print(f"| {label:<52} | {g('vigil.' + key, fmt):>22} | {g('vm.' + key, fmt):>22} |")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"sample": sample, "threads": threads, "summary": summary, "table": table}[cmd](*args)
