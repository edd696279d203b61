#!/usr/bin/env python3
"""Helpers for remote_write.sh: read one remote's forwarding figures from the collector's
/metrics, follow them over time, and summarise them.

    remote_write.py now URL REMOTE                        # the figures once, as JSON
    remote_write.py watch URL REMOTE OUT.jsonl [PERIOD]   # a JSON line every PERIOD s (0.5) until killed
    remote_write.py until-sent URL REMOTE TARGET TIMEOUT  # poll until samples sent >= TARGET
    remote_write.py steady OUT.jsonl FROM TO INTERVAL     # lag median/max and samples/s in [FROM, TO]

Figures: sent, failed, dropped (all reasons), retries, lag (seconds), queue (bytes), from
vigil_remote_write_* with remote="REMOTE"; `t` is Unix time in seconds.
"""
import json
import re
import statistics
import sys
import time
import urllib.request

NAMES = {
    "vigil_remote_write_samples_sent_total": "sent",
    "vigil_remote_write_samples_failed_total": "failed",
    "vigil_remote_write_samples_dropped_total": "dropped",
    "vigil_remote_write_retries_total": "retries",
    "vigil_remote_write_lag_seconds": "lag",
    "vigil_remote_write_queue_bytes": "queue",
}
LINE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def scrape(url, remote):
    """The figures of one remote; None when /metrics does not answer."""
    try:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError:
        return None
    figures = dict.fromkeys(NAMES.values(), 0.0)
    figures["t"] = time.time()
    seen = False
    for line in text.splitlines():
        m = LINE.match(line)
        if not m or m.group(1) not in NAMES:
            continue
        if f'remote="{remote}"' not in (m.group(2) or ""):
            continue
        seen = True
        figures[NAMES[m.group(1)]] += float(m.group(3))  # dropped: the sum of its reasons
    figures["seen"] = seen
    return figures


def watch(url, remote, out_path, period):
    with open(out_path, "a") as out:
        while True:
            figures = scrape(url, remote)
            if figures is not None:
                out.write(json.dumps(figures) + "\n")
                out.flush()
            time.sleep(period)


def until_sent(url, remote, target, timeout):
    """Polls until `sent` reaches target. Times from the last poll before sending resumed
    (the receiver may come back between polls) to the first poll at or past the target."""
    started = time.time()
    last_idle = None
    while time.time() - started < timeout:
        f = scrape(url, remote)
        if f is not None:
            if f["sent"] >= target:
                last_idle = last_idle or f
                seconds = f["t"] - last_idle["t"]
                delivered = f["sent"] - last_idle["sent"]
                print(json.dumps({
                    "reached": True, "seconds": seconds, "samples": delivered,
                    "samples_per_s": delivered / seconds if seconds > 0 else None,
                    "waited_s": last_idle["t"] - started, "end": f,
                }))
                return 0
            if last_idle is None or f["sent"] <= last_idle["sent"]:
                last_idle = f
        time.sleep(0.2)
    print(json.dumps({"reached": False, "end": scrape(url, remote)}))
    return 1


def steady(path, start, stop, interval):
    """Lag over every reading in [start, stop]; samples/s between the first reading and
    the last one a whole number of intervals after it (the fleet sends in bursts, one per
    interval: readings at the same phase of the bursts count whole bursts)."""
    rows = [json.loads(line) for line in open(path) if line.strip()]
    rows = [r for r in rows if start <= r["t"] <= stop]
    if len(rows) < 2 or rows[-1]["t"] - rows[0]["t"] < interval:
        print(json.dumps({"error": f"{len(rows)} readings between {start} and {stop}"}))
        return 1
    lags = [r["lag"] for r in rows]
    whole = (rows[-1]["t"] - rows[0]["t"]) // interval * interval
    last = min(rows, key=lambda r: abs(r["t"] - rows[0]["t"] - whole))
    seconds = last["t"] - rows[0]["t"]
    print(json.dumps({
        "readings": len(rows),
        "seconds": rows[-1]["t"] - rows[0]["t"],
        "rate_seconds": seconds,
        "samples": last["sent"] - rows[0]["sent"],
        "samples_per_s": (last["sent"] - rows[0]["sent"]) / seconds,
        "lag_median": statistics.median(lags),
        "lag_p99": sorted(lags)[min(len(lags) - 1, int(len(lags) * 0.99))],
        "lag_max": max(lags),
        "queue_max": max(r["queue"] for r in rows),
        "dropped": rows[-1]["dropped"] - rows[0]["dropped"],
        "failed": rows[-1]["failed"] - rows[0]["failed"],
        "retries": rows[-1]["retries"] - rows[0]["retries"],
    }))
    return 0


def main(argv):
    command = argv[1] if len(argv) > 1 else ""
    if command == "now":
        print(json.dumps(scrape(argv[2], argv[3])))
        return 0
    if command == "watch":
        watch(argv[2], argv[3], argv[4], float(argv[5]) if len(argv) > 5 else 0.5)
        return 0
    if command == "until-sent":
        return until_sent(argv[2], argv[3], float(argv[4]), float(argv[5]))
    if command == "steady":
        return steady(argv[2], float(argv[3]), float(argv[4]), float(argv[5]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
