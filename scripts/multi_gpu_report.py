#!/usr/bin/env python3
"""Tables of scripts/multi_gpu_runs.sh from its run folders and logs.

usage: multi_gpu_report.py OUT N KILL_AT COUNT...
"""
import json
import re
import statistics
import sys
from pathlib import Path


def curve(run_dir):
    """step -> train loss, and the tokens/s of each step."""
    losses, speeds = {}, {}
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return losses, speeds
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.get("type") == "train":
            losses[record["step"]] = record["loss"]
            speeds[record["step"]] = record["tokens_per_s"]
    return losses, speeds


def compare(name, reference, other, from_step=1):
    steps = [s for s in sorted(other) if s >= from_step and s in reference]
    if not steps:
        print(f"| {name} | no common steps | | |")
        return
    diffs = [abs(other[s] - reference[s]) for s in steps]
    last = steps[-1]
    print(f"| {name} | {len(steps)} | {max(diffs):.4f} | {statistics.mean(diffs):.4f} | "
          f"{reference[last]:.4f} / {other[last]:.4f} |")


def optimizer_mib(log):
    match = re.search(r"optimizer ([0-9.]+)", Path(log).read_text()) if Path(log).exists() else None
    return float(match.group(1)) if match else float("nan")


def main():
    out, n, kill_at, counts = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), [int(c) for c in sys.argv[4:]]
    one, _ = curve(out / "equiv-1rank")
    many, _ = curve(out / "equiv-n")
    zero, _ = curve(out / "equiv-n-zero1")
    resumed, _ = curve(out / "killed")
    print(f"\n### Loss curves against 1 GPU with {n}x accumulation\n")
    print("| run | steps compared | max abs diff | mean abs diff | last step loss (1 GPU / run) |")
    print("|---|---:|---:|---:|---:|")
    compare(f"{n} ranks", one, many)
    compare(f"{n} ranks, ZeRO-1", one, zero)
    compare(f"{n} ranks, rank 1 failed at {kill_at + 2}, resumed from {kill_at}", many, resumed, kill_at + 1)

    print("\n### ZeRO-1 memory (rank 0, AdamW moments)\n")
    plain, sharded = optimizer_mib(out / "equiv-n.log"), optimizer_mib(out / "equiv-n-zero1.log")
    print(f"| {n} ranks | {plain:.1f} MiB | ZeRO-1 | {sharded:.1f} MiB | saved {plain - sharded:.1f} MiB per rank |")

    killed_log = (out / "killed.log").read_text() if (out / "killed.log").exists() else ""
    message = next((l for l in killed_log.splitlines() if "error:" in l), "(no error line)")
    seconds = (out / "killed.seconds").read_text().strip() if (out / "killed.seconds").exists() else "?"
    print(f"\n### Failed rank\n\nended after {seconds} s with: `{message.strip()}`\n")

    print("### Scaling (same micro-batch per GPU; tokens/s median of steps after the 5th)\n")
    print("| model | GPUs | tokens/s | per GPU | efficiency |")
    print("|---|---:|---:|---:|---:|")
    for model in ("124m", "350m"):
        base = None
        for count in counts:
            _, speeds = curve(out / f"scale-{model}-{count}")
            timed = [v for s, v in speeds.items() if s > 5]
            if not timed:
                print(f"| {model} | {count} | not run | | |")
                continue
            tps = statistics.median(timed)
            base = base or (tps if count == 1 else None)
            eff = f"{100 * tps / (count * base):.1f}%" if base else "-"
            print(f"| {model} | {count} | {tps:,.0f} | {tps / count:,.0f} | {eff} |")


if __name__ == "__main__":
    main()
