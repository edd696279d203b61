#!/usr/bin/env python3
"""Helper of fleet_restart.sh (sampling /proc is fleet_scale.py's `sample`).

  warm LOADGEN.err HOSTS INTERVAL_MS WARM_S
                        waits until the loadgen's interval lines (--report-every) show every
                        host with its series created and ack p99 within one scrape interval,
                        in consecutive lines covering at least one scrape interval ("kept-up"),
                        or WARM_S seconds ("warm"); prints which and when, and the last line.
  settle LOADGEN.err SKIP TIMEOUT_S
                        waits, from line SKIP of the loadgen's stderr on, for an interval line
                        saying no host is recovering any more (the storm is over: "0 hosts
                        recovering", or a plain line after one naming reconnects), at most
                        TIMEOUT_S seconds; prints "settled T" or "timeout T".
  ready T0 HTTP_URL GRPC_CMD…
                        polls the HTTP URL and runs GRPC_CMD (`vigil status`) until each
                        succeeds; prints http_ready_s and grpc_ready_s, seconds since the
                        Unix time T0.
  storm LOADGEN.json RESTART_UNIX_S SAMPLES SAMPLER_START_UNIX_S
                        the restart figures from the loadgen's report and the new collector's
                        /proc samples, as NAME=VALUE lines.
  status STATUS.json    the collector's own view after the storm, as NAME=VALUE lines.
  table RESULTS         the restart table from the NAME=VALUE lines of fleet_restart.sh.
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet_scale  # noqa: E402  (its sample rows)

LINE = re.compile(r"t=\s*([\d.]+)s\s+streams\s+(\d+) open\s+(\d+) created;.*ack p50 (\d+) ms p90 (\d+) ms p99 (\d+) ms")


def warm(err, hosts, interval_ms, warm_s):
    hosts, interval_ms, warm_s = int(hosts), float(interval_ms), float(warm_s)
    t0 = time.time()
    seen = 0
    last = ""
    kept_since = None
    while True:
        try:
            lines = open(err).read().splitlines()
        except OSError:
            lines = []
        for line in lines[seen:]:
            m = LINE.search(line)
            if not m:
                continue
            last = line
            at, created, p99 = float(m.group(1)), int(m.group(3)), float(m.group(6))
            if created < hosts or p99 > interval_ms:
                kept_since = None
                continue
            if kept_since is None:
                kept_since = at
            elif (at - kept_since) * 1000 >= interval_ms:
                print(f"kept-up {time.time() - t0:.1f}")
                print(last)
                return
        seen = len(lines)
        if time.time() - t0 >= warm_s:
            print(f"warm {time.time() - t0:.1f}")
            print(last or "(no interval line yet)")
            return
        time.sleep(0.5)


def settle(err, skip, timeout_s):
    skip, timeout_s = int(skip), float(timeout_s)
    t0 = time.time()
    storm = False
    while time.time() - t0 < timeout_s:
        try:
            lines = open(err).read().splitlines()[skip:]
        except OSError:
            lines = []
        for line in lines:
            if not LINE.search(line):
                continue
            m = re.search(r"(\d+) hosts recovering", line)
            if m:
                storm = True
                if m.group(1) == "0":
                    print(f"settled {time.time() - t0:.1f}")
                    return
            elif storm:
                print(f"settled {time.time() - t0:.1f}")
                return
        time.sleep(0.5)
    print(f"timeout {time.time() - t0:.1f}")


def ready(t0, url, *grpc_cmd):
    t0 = float(t0)
    http = grpc = None
    deadline = time.time() + 600
    while (http is None or grpc is None) and time.time() < deadline:
        if http is None:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        http = time.time() - t0
            except OSError:
                pass
        if grpc is None:
            done = subprocess.run(grpc_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if done.returncode == 0:
                grpc = time.time() - t0
        time.sleep(0.05)
    print(f"http_ready_s={'never' if http is None else round(http, 2)}")
    print(f"grpc_ready_s={'never' if grpc is None else round(grpc, 2)}")


def storm(path, restart_s, samples, sampler_start_s):
    d = json.load(open(path))
    restart_ms = float(restart_s) * 1000
    r = d.get("reconnects", {})
    storms = r.get("storms", [])
    out = {
        "storms": len(storms),
        "stream_failures": r.get("stream_failures", 0),
        "reconnect_attempts": r.get("reconnect_attempts", 0),
        "reconnects": r.get("reconnects", 0),
        "resent_batches": r.get("resent_batches", 0),
        "recovering_at_end": r.get("recovering_at_end", 0),
        "generated": d.get("generated_samples", 0),
        "acked": d["acked_samples"],
        "rejected": d["rejected_samples"],
        "lost": d.get("lost_samples", "-"),
        "errors": len(d["errors"]),
        "first_error": (d["errors"] or ["-"])[0].replace("\n", " ")[:200],
    }
    end_unix_s = None
    if storms:
        s = storms[0]
        out["storm_hosts"] = s["hosts"]
        out["storm_batches"] = s["batches"]
        out["storm_p50_ms"] = s["ack_latency_ms"]["p50"]
        out["storm_p99_ms"] = s["ack_latency_ms"]["p99"]
        out["storm_max_ms"] = s["ack_latency_ms"]["max"]
        if s["end_unix_ms"] is not None:
            end_unix_s = s["end_unix_ms"] / 1000
            out["storm_s"] = round((s["end_unix_ms"] - restart_ms) / 1000, 1)
            out["storm_from_first_failure_s"] = round(s["seconds"], 1)
        else:
            out["storm_s"] = "not over"
    # Peak memory of the new process: VmHWM by the storm's end, and by the end of the run.
    rows = fleet_scale.rows(samples) if os.path.exists(samples) else []
    if rows:
        start = float(sampler_start_s)
        by_end = [r for r in rows if end_unix_s is None or start + r["t"] <= end_unix_s + 1.0]
        out["storm_hwm_kb"] = max((r["hwm_kb"] for r in by_end), default=0)
        out["end_hwm_kb"] = rows[-1]["hwm_kb"]
        out["end_rss_kb"] = rows[-1]["rss_kb"]
    for k, v in out.items():
        print(f"{k}={v}")


def status(path):
    try:
        d = json.load(open(path))
    except (OSError, ValueError) as e:
        print(f"status_error={e}")
        return
    for k in ("uptime_seconds", "series", "hosts", "hosts_up", "samples_ingested", "samples_rejected",
              "series_created", "acks_last_minute", "batches_waiting"):
        print(f"status_{k}={d.get(k, '-')}")
    for k in ("ack_p50_seconds", "ack_p99_seconds"):
        v = d.get(k)
        print(f"status_{k[:-8]}_ms={'-' if v is None else round(v * 1000, 1)}")
    print(f"status_resident_mb={d.get('resident_bytes', 0) / 1e6:.0f}")
    mem = d.get("memory", {})
    print("status_memory_mb=" + ", ".join(f"{k} {v / 1e6:.0f}" for k, v in mem.items() if v >= 1e6))


def table(path):
    r = fleet_scale.read_results(path)

    def g(k, fmt="{}"):
        v = r.get(k)
        if v in (None, ""):
            return "-"
        try:
            f = float(v)
            if fmt == "{}" and f.is_integer():
                return f"{int(f)}"
            return fmt.format(f)
        except ValueError:
            return v

    def mb(k):
        v = r.get(k)
        return "-" if v in (None, "", "0") else f"{int(v) / 1024:,.0f}"

    rows = [
        ("hosts x series at interval", f"{g('hosts', '{:,.0f}')} x {g('series')} at {g('interval')}"),
        ("kill -9 after (trigger)", f"{g('kill_after_s', '{:.0f}')} s ({g('kill_trigger')})"),
        ("hosts connected / created at the kill", f"{g('kill_connected')} / {g('kill_created')}"),
        ("collector RSS at the kill, MB", mb("before_rss_kb")),
        ("collector's view at the kill: hosts / up, series",
         f"{g('before_hosts')} / {g('before_hosts_up')}, {g('before_series', '{:,.0f}')}"),
        ("(a) restart -> HTTP ready (buildinfo), s", g("http_ready_s")),
        ("(a) restart -> gRPC ready (vigil status), s", g("grpc_ready_s")),
        ("(b) restart -> every host reconnected and caught up, s", g("storm_s")),
        ("    first stream failure -> caught up, s", g("storm_from_first_failure_s")),
        ("    hosts recovering / reconnects / attempts", f"{g('storm_hosts')} / {g('reconnects')} / {g('reconnect_attempts')}"),
        ("    batches re-sent", g("resent_batches")),
        ("(c) new collector VmHWM by the end of the storm, MB", mb("storm_hwm_kb")),
        ("    new collector VmHWM / RSS at the end, MB", f"{mb('end_hwm_kb')} / {mb('end_rss_kb')}"),
        ("(d) ack latency in the storm p50 / p99 / max, ms",
         " / ".join(g(f"storm_{p}_ms", "{:,.0f}") for p in ("p50", "p99", "max"))),
        ("    batches acknowledged in the storm", g("storm_batches", "{:,.0f}")),
        ("(e) samples generated / acknowledged / lost", f"{g('generated', '{:,.0f}')} / {g('acked', '{:,.0f}')} / {g('lost', '{:,.0f}')}"),
        ("    rejected samples, host errors", f"{g('rejected', '{:,.0f}')}, {g('errors', '{:.0f}')}"),
        ("    every round acknowledged", "yes" if r.get("lost") == "0" and r.get("errors") == "0" else "NO"),
        ("collector's view after the storm (vigil status): uptime s", f"{g('status_uptime_seconds')} ({g('settled')})"),
        ("    hosts / up, series, series created since start",
         f"{g('status_hosts')} / {g('status_hosts_up')}, {g('status_series', '{:,.0f}')}, {g('status_series_created')}"),
        ("    its ack p50 / p99 ms, batches waiting", f"{g('status_ack_p50_ms')} / {g('status_ack_p99_ms')}, {g('status_batches_waiting')}"),
        ("    resident MB (by part)", f"{g('status_resident_mb')} ({g('status_memory_mb')})"),
        ("collector log: panics / errors / warnings (new process)", f"{g('log_panics')} / {g('log_errors')} / {g('log_warnings')}"),
        ("load average at the end", g("loadavg")),
    ]
    width = max(len(label) for label, _ in rows)
    vw = max(24, max(len(value) for _, value in rows))
    print(f"| {'':<{width}} | {'measured':>{vw}} |")
    print(f"|{'-' * (width + 2)}|{'-' * (vw + 2)}|")
    for label, value in rows:
        print(f"| {label:<{width}} | {value:>{vw}} |")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"warm": warm, "settle": settle, "ready": ready, "storm": storm, "status": status, "table": table}[cmd](*args)
