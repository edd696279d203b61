#!/usr/bin/env python3
"""Writes the query-speed benchmark's dataset as OpenMetrics text (timestamps in seconds).

    query_speed_data.py OUT END_SECONDS [HOSTS]

- node_cpu_seconds_total{host,instance,job,cpu,mode}: HOSTS hosts (default 1000) x 2 cpus x
  8 modes, every 15 s for the 70 minutes before END (a 1 h range query of a 5 m rate
  needs 65 minutes).
- node_load1 and node_network_receive_bytes_total{device="eth0"} of host "solo", every 15 s
  for 7 days and 10 minutes before END.

Deterministic (seeded), so both systems load exactly the same samples.
"""
import random
import sys

MODES = ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"]
STEP = 15


def cpu_family(out, end, hosts, rng):
    start = end - 70 * 60
    times = range(start, end + 1, STEP)
    out.write("# TYPE node_cpu_seconds counter\n")
    for h in range(hosts):
        host = f"host-{h:04d}"
        for cpu in ("0", "1"):
            for i, mode in enumerate(MODES):
                labels = (f'node_cpu_seconds_total{{host="{host}",instance="{host}:9100",'
                          f'job="node",cpu="{cpu}",mode="{mode}"}}')
                per_s = 0.7 if mode == "idle" else 0.3 / (i + 1)
                value = rng.uniform(1e3, 1e5) * per_s
                lines = []
                for t in times:
                    value += per_s * STEP * rng.uniform(0.5, 1.5)
                    lines.append(f"{labels} {value!r} {t}\n")
                out.write("".join(lines))


def solo_series(out, end, rng):
    start = end - 7 * 86400 - 10 * 60
    times = range(start, end + 1, STEP)
    base = 'host="solo",instance="solo:9100",job="node"'
    out.write("# TYPE node_load1 gauge\n")
    load, lines = 1.0, []
    for t in times:
        load = abs(load + rng.uniform(-0.1, 0.1))
        lines.append(f"node_load1{{{base}}} {load!r} {t}\n")
    out.write("".join(lines))
    out.write("# TYPE node_network_receive_bytes counter\n")
    value, lines = 1e9, []
    for t in times:
        value += 250_000 * STEP * rng.uniform(0.5, 1.5)
        lines.append(f'node_network_receive_bytes_total{{{base},device="eth0"}} {value!r} {t}\n')
    out.write("".join(lines))


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: query_speed_data.py OUT END_SECONDS [HOSTS]")
    out_path, end = sys.argv[1], int(sys.argv[2])
    hosts = int(sys.argv[3]) if len(sys.argv) == 4 else 1000
    rng = random.Random(20261121)
    with open(out_path, "w", buffering=1 << 20) as out:
        cpu_family(out, end, hosts, rng)
        solo_series(out, end, rng)
        out.write("# EOF\n")


if __name__ == "__main__":
    main()
