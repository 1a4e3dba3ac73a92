#!/usr/bin/env python3
"""The table of an A/B run (bench/ab.sh writes the inputs).

  compare_ab.py OUT_DIR NAME [NAME...] [--record FILE]
For each config and build: the step time of every round, their median, the
ratio of that median to the first build's, and the device memory. --record
writes the same figures as JSON, with the GPU (nvidia-smi) where there is one.
"""
import argparse
import glob
import json
import os
import re
import statistics

from run_facts import gpu_name

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("names", nargs="+")
parser.add_argument("--record")
args = parser.parse_args()

runs = {}  # (config, name) -> {round: figures}
longest_first = sorted(args.names, key=len, reverse=True)  # "a-b" before "a": names may contain '-'
for path in glob.glob(os.path.join(args.out, "ab-*.json")):
    base = os.path.basename(path)
    name = next((n for n in longest_first if base.startswith(f"ab-{n}-")), None)
    m = name and re.fullmatch(r"(?P<config>.+)-r(?P<round>\d+)\.json", base[len(f"ab-{name}-"):])
    if not m:
        continue
    try:
        figures = json.load(open(path))
    except (OSError, json.JSONDecodeError) as e:
        print(f"compare_ab.py: {path}: {e}")
        continue
    if not isinstance(figures, dict) or "ms_per_step_median" not in figures:
        print(f"compare_ab.py: {path}: no ms_per_step_median (not an alibi-bench train --json file?)")
        continue
    runs.setdefault((m["config"], name), {})[int(m["round"])] = figures


def times_of(config, name):
    """A build's step times on a config, round by round ([] where it has none)."""
    rounds = runs.get((config, name), {})
    return [rounds[r]["ms_per_step_median"] for r in sorted(rounds)]


configs = sorted({config for config, _ in runs})
if not configs:
    raise SystemExit(f"compare_ab.py: no results in {args.out}")
record = {"gpu": gpu_name(), "builds": args.names, "results": []}
for config in configs:
    first_times = times_of(config, args.names[0])
    first = statistics.median(first_times) if first_times else None
    print(f"{config}: ms a step by round, median, against {args.names[0]}")
    for name in args.names:
        times = times_of(config, name)
        if not times:
            print(f"  {name:24s} no result")
            continue
        rounds = runs[(config, name)]
        median = statistics.median(times)
        ratio = median / first if first else None
        gib = max(rounds[r].get("device_gib", 0.0) for r in rounds)
        print(f"  {name:24s} {' '.join(f'{t:8.2f}' for t in times)}  median {median:8.2f}  "
              f"{f'{ratio:6.3f}x' if ratio else '   -   '}  {gib:6.2f} GiB")
        record["results"].append({"config": config, "build": name, "ms_per_step": times, "median_ms": median,
                                  "ratio_to_first": ratio, "device_gib": gib})
if args.record:
    with open(args.record, "w") as f:
        json.dump(record, f, indent=1)
