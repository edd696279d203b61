#!/usr/bin/env python3
"""Helper of anomaly_fleet.sh (the per-second sampler and the loadgen summary are
fleet_scale.py's).

  figures WORK WHO RAMP_S DURATION_S SKIP_S
                 one run's figures as NAME=VALUE lines, from the files anomaly_fleet.sh left
                 in WORK: WHO.cpu (unix time and the collector's CPU ticks, every second),
                 WHO.rules (unix time and `vigil rules --output json`, every 30 s and once
                 at the end), WHO.count.json, WHO.status.json, WHO.loadgen.json. Windows
                 are seconds since the first live scrape's time: "live" is RAMP..DURATION
                 (every host sending), "steady" the same without its first SKIP, cut to a
                 whole number of rule evaluation intervals (so both runs hold as many
                 evaluations).
  cost LINE      NAME=VALUE lines from the line the detector's cost example prints.
  table RESULTS  the comparison table from the NAME=VALUE lines of anomaly_fleet.sh.
"""
import json
import re
import statistics
import sys

WATCH_GROUP = "vigil-anomaly-watch"


def rows(path):
    """(unix time, rest of the line) per line."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                t, _, rest = line.rstrip("\n").partition(" ")
                out.append((float(t), rest))
    except OSError:
        pass
    return out


def ticks_at(samples, t):
    """The CPU ticks at t, interpolated between the samples around it."""
    before = [s for s in samples if s[0] <= t]
    after = [s for s in samples if s[0] >= t]
    if not before or not after:
        return None
    (t0, c0), (t1, c1) = before[-1], after[0]
    return c0 if t1 == t0 else c0 + (c1 - c0) * (t - t0) / (t1 - t0)


def cores(samples, hz, a, b):
    ca, cb = ticks_at(samples, a), ticks_at(samples, b)
    if ca is None or cb is None or b <= a:
        return None
    return (cb - ca) / hz / (b - a)


def watch_rules(doc):
    for g in doc or []:
        if g["name"] == WATCH_GROUP:
            return g
    return None


def figures(work, who, ramp_s, duration_s, skip_s):
    ramp_s, duration_s, skip_s = float(ramp_s), float(duration_s), float(skip_s)
    # Zero: the first live scrape's time (the loadgen's start rounded down to its interval),
    # from which host i of N sends i/N x RAMP late: all send from RAMP to DURATION.
    try:
        t0 = json.load(open(f"{work}/{who}.loadgen.json"))["start_ms"] / 1000
    except (OSError, ValueError, KeyError):
        t0 = float(open(f"{work}/{who}.t0").read())
    hz = 100
    samples = []
    for t, rest in rows(f"{work}/{who}.cpu"):
        hz_s, ticks = rest.split()
        hz = int(hz_s)
        samples.append((t - t0, int(ticks)))
    snapshots = []
    for t, rest in rows(f"{work}/{who}.rules"):
        try:
            snapshots.append((t - t0, json.loads(rest)))
        except ValueError:
            pass
    group = next((watch_rules(d) for _, d in reversed(snapshots) if watch_rules(d)), None)
    interval = float(group["interval"]) if group else 60.0
    out = {}

    # CPU over the windows.
    end = min(duration_s, samples[-1][0]) if samples else duration_s
    live = (ramp_s, end) if end > ramp_s else (0.0, end)
    whole = int((end - ramp_s - skip_s) // interval) * interval
    steady = (end - whole, end) if whole > 0 else None
    c = cores(samples, hz, *live)
    out["cores_live"] = "-" if c is None else f"{c:.3f}"
    out["live_window"] = f"{live[0]:.0f}-{live[1]:.0f} s"
    c = cores(samples, hz, *steady) if steady else None
    out["cores_steady"] = "-" if c is None else f"{c:.3f}"
    out["steady_window"] = f"{steady[0]:.0f}-{steady[1]:.0f} s" if steady else "-"

    # The 1 s sampling loop stalling means the whole machine did (a paused VM, swapping):
    # the collector's figures around it say little.
    gaps = [(b[0] - a[0], a[0]) for a, b in zip(samples, samples[1:])]
    gap, at = max(gaps, default=(1.0, 0.0))
    out["stall"] = f"{gap - 1:.1f} s at {at:.0f} s" if gap > 1.5 else "none"
    out["stall_s"] = f"{max(gap - 1, 0):.1f}"

    # The watch group: series watched and seconds per evaluation (its rules' evaluation
    # times summed, one value per evaluation however often it was polled).
    last = snapshots[-1][1] if snapshots else None
    g = watch_rules(last)
    out["watched"] = sum((r.get("anomaly") or {}).get("watched_series", 0) for r in g["rules"]) if g else 0
    out["restored"] = sum((r.get("anomaly") or {}).get("restored_series", 0) for r in g["rules"]) if g else 0
    out["eval_s_end"] = f"{sum(r['evaluation_time'] for r in g['rules']):.4f}" if g else "-"
    evals = {}
    for _, d in snapshots:
        g = watch_rules(d)
        if g and g.get("last_evaluation"):
            evals[g["last_evaluation"] - t0] = sum(r["evaluation_time"] for r in g["rules"])
    in_steady = [v for t, v in evals.items() if steady and steady[0] <= t <= steady[1]]
    out["eval_s_median"] = f"{statistics.median(in_steady):.4f}" if in_steady else "-"
    out["eval_s_max"] = f"{max(in_steady):.4f}" if in_steady else "-"
    out["eval_count"] = len(in_steady)
    out["eval_interval_s"] = f"{interval:.0f}"

    # Built-in rules not healthy at any poll.
    bad = set()
    for _, d in snapshots:
        for grp in d or []:
            for r in grp["rules"]:
                if grp.get("file") == "(built-in)" and r.get("health") not in ("ok", "unknown"):
                    bad.add(f"{grp['name']}/{r['name']}: {r.get('health')} {r.get('last_error') or ''}".strip())
    out["unhealthy_n"] = len(bad)
    out["unhealthy"] = "; ".join(sorted(bad))

    try:
        res = json.load(open(f"{work}/{who}.count.json"))["result"]
        out["score_series"] = int(float(res[0]["value"][1])) if res else 0
    except (OSError, ValueError, KeyError, IndexError):
        out["score_series"] = "-"
    try:
        status = json.load(open(f"{work}/{who}.status.json"))
        out["store_series"] = status["series"]
        # Where the resident memory is, by the collector's own account ("other": not in
        # RocksDB's parts nor the series index: the rules, queries, allocator slack).
        out["memory_parts"] = " / ".join(
            f"{status['memory'].get(k, 0) / 2**20:.0f}" for k in ("head", "series_index", "other"))
    except (OSError, ValueError, KeyError):
        out["store_series"] = "-"
    for k, v in out.items():
        print(f"{who}.{k}={v}")


def cost(line):
    m = re.search(r"([0-9.]+) ns per sample.*?([0-9]+) bytes of state per series", line)
    if m:
        print(f"detector_ns={m.group(1)}")
        print(f"detector_bytes={m.group(2)}")


def read_results(path):
    r = {}
    for line in open(path):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            r[k] = v
    return r


def num(r, k):
    try:
        return float(r[k])
    except (KeyError, ValueError):
        return None


def table(path):
    r = read_results(path)
    for who in ("off", "on"):
        if f"{who}.acked" in r:
            r[f"{who}.acked_of"] = f"{r[f'{who}.acked']} / {r[f'{who}.expected']}"
            r[f"{who}.lat"] = " / ".join(f"{float(r[f'{who}.{p}_ms']):,.0f}" for p in ("p50", "p99", "max"))
        for k in ("rss_kb", "hwm_kb"):
            if num(r, f"{who}.{k}") is not None:
                r[f"{who}.{k[:3]}_mib"] = str(num(r, f"{who}.{k}") / 1024)
        r[f"{who}.load"] = " -> ".join(r.get(f"{who}.loadavg_{k}", "-").split("/")[0] for k in ("start", "end"))
        r[f"{who}.eval"] = " / ".join(r.get(f"{who}.eval_s_{k}", "-") for k in ("end", "median", "max"))

    def cell(who, key, fmt):
        v = r.get(f"{who}.{key}")
        if v in (None, ""):
            return "-"
        try:
            return fmt.format(float(v))
        except ValueError:
            return v

    def diff(key, fmt):
        a, b = num(r, f"off.{key}"), num(r, f"on.{key}")
        return "" if a is None or b is None else fmt.format(b - a)

    live, steady = r.get("on.live_window", "-"), r.get("on.steady_window", "-")
    lines = [  # label, key, cell format, difference format (None: no difference)
        ("samples/s offered", "load_sps", "{:,.0f}", None),
        ("samples/s acknowledged (live phase)", "acked_sps", "{:,.0f}", "{:+,.0f}"),
        ("samples acknowledged / expected", "acked_of", "{}", None),
        ("ack latency p50 / p99 / max, ms", "lat", "{}", None),
        ("loadgen errors / samples refused", "errs", "{}", None),
        ("collector CPU, cores: whole run", "cores", "{:.3f}", "{:+.3f}"),
        (f"  every host sending ({live} after the first scrape's time)", "cores_live", "{:.3f}", "{:+.3f}"),
        (f"  steady ({steady})", "cores_steady", "{:.3f}", "{:+.3f}"),
        ("collector RSS at the end, MiB", "rss_mib", "{:,.0f}", "{:+,.0f}"),
        ("collector RSS peak (VmHWM), MiB", "hwm_mib", "{:,.0f}", "{:+,.0f}"),
        ("  vigil status at the end: head / series index / other, MiB", "memory_parts", "{}", None),
        ("series in the store (vigil status)", "store_series", "{:,.0f}", "{:+,.0f}"),
        (f"series watched ({WATCH_GROUP})", "watched", "{:,.0f}", None),
        ("vigil_anomaly_score series", "score_series", "{:,.0f}", None),
        ("watch group s per evaluation: end / median / max (steady)", "eval", "{}", None),
        ("built-in rules not ok at any poll (listed below)", "unhealthy_n", "{:.0f}", None),
        ("collector log WARN / ERROR lines", "log", "{}", None),
        ("loadgen CPU-s", "loadgen_cpu_s", "{:.0f}", "{:+.0f}"),
        ("longest stall of the 1 s sampling loop (machine paused)", "stall", "{}", None),
        ("load average (1 min): start -> end", "load", "{}", None),
    ]
    for who in ("off", "on"):
        r[f"{who}.errs"] = f"{r.get(f'{who}.errors', '-')} / {r.get(f'{who}.rejected', '-')}"
        r[f"{who}.log"] = f"{r.get(f'{who}.warn_lines', '-')} / {r.get(f'{who}.error_lines', '-')}"
    w = max(len(line[0]) for line in lines)
    print(f"| {'':<{w}} | {'anomaly rules OFF':>24} | {'ON (the default)':>24} | {'ON - OFF':>10} |")
    print(f"|{'-' * (w + 2)}|{'-' * 26}|{'-' * 26}|{'-' * 12}|")
    for label, key, fmt, dfmt in lines:
        d = diff(key, dfmt) if dfmt else ""
        print(f"| {label:<{w}} | {cell('off', key, fmt):>24} | {cell('on', key, fmt):>24} | {d:>10} |")

    for who in ("off", "on"):
        if (num(r, f"{who}.stall_s") or 0) > 5:
            print(f"warning: {who}: this machine stalled for {r[f'{who}.stall']} after the loadgen's start"
                  " (the sampling loop did not run): that run's figures are unreliable; run again")
        if r.get(f"{who}.unhealthy"):
            print(f"{who}: built-in rules not ok: {r[f'{who}.unhealthy']}")
    watched = num(r, "on.watched") or 0
    interval = num(r, "on.eval_interval_s") or 60
    print()
    if watched <= 0:
        print("No series watched in the ON run: no per-series figures.")
        return
    per10k = 10_000 / watched
    print(f"Per 10,000 watched series (Netdata's anomaly detection: 2-4 % of a core per 10,000 metrics):")
    for label, key in (("steady", "cores_steady"), ("every host sending", "cores_live")):
        a, b = num(r, f"off.{key}"), num(r, f"on.{key}")
        if a is not None and b is not None:
            print(f"  collector CPU, ON - OFF ({label}):{'':<{28 - len(label)}} {100 * (b - a) * per10k:+7.2f} % of one core")
    e = num(r, "on.eval_s_median")
    if e is not None:
        print(f"  watch group evaluation time / {interval:.0f} s interval (median):   {100 * e / interval * per10k:7.2f} % of one core"
              f"  ({e * 1000:.0f} ms per evaluation of {watched:,.0f} series)")
    ns = num(r, "detector_ns")
    if ns is not None:
        print(f"  the detector's arithmetic alone (cost example, {ns:.0f} ns/sample):{'':<1} {100 * ns * 1e-9 * 10_000 / interval:7.4f} % of one core")
    b = num(r, "detector_bytes")
    d_rss = None
    if num(r, "off.rss_kb") is not None and num(r, "on.rss_kb") is not None:
        d_rss = (num(r, "on.rss_kb") - num(r, "off.rss_kb")) * 1024
    print("Memory:")
    if b is not None:
        print(f"  detector state: {b:.0f} bytes per series (cost example) x {watched:,.0f} series = {b * watched / 2**20:.1f} MiB")
    if d_rss is not None:
        print(f"  RSS at the end, ON - OFF: {d_rss / 2**20:+.1f} MiB = {d_rss / watched:+,.0f} bytes per watched series"
              f" (each also writes 4 series: {4 * watched:,.0f} more in the store)")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"figures": figures, "cost": cost, "table": table}[cmd](*args)
