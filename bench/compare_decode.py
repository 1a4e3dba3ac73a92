#!/usr/bin/env python3
"""Prints alibi-lm's decode speed beside PyTorch's (bench/decode.sh writes the inputs).

  compare_decode.py OUT_DIR [--record FILE]
Inputs: OUT_DIR/ours-decode.json (alibi-bench decode --json, a list of {"bench": "decode",
"batch", "context", "new_tokens", "ms_per_token", "tokens_per_s", "copy_gbs", "bytes_per_step",
"bandwidth_bound_ms"}) and OUT_DIR/pytorch-decode.json (bench/decode_baseline.py).
Bars per (batch, context): our tokens/s at least 1.5x the faster PyTorch implementation's;
at batch 1 also our ms/token at most 2x bandwidth_bound_ms (a step's bytes at the copy rate).
--record also writes {"gpu", "commit", "ours": [...], "pytorch": {...}} to FILE, the commit
from $ALIBI_COMMIT or git.
"""
import argparse
import json
import os

from run_facts import commit, gpu_name

MIN_SPEEDUP = 1.5      # ours over the faster PyTorch implementation, in tokens/s
MAX_OVER_BOUND = 2.0   # batch 1: ms/token over the bandwidth bound
IMPLS = ["transformers", "torch-static"]


def load_json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        print(f"(no {path})")
        return default


def baseline_cell(record):
    """The table cell of one PyTorch record and its tokens/s (None when it did not run)."""
    if record is None:
        return "-", None
    if "tokens_per_s" in record:
        return f"{record['tokens_per_s']:,.0f}", record["tokens_per_s"]
    return ("skipped: " + record["skipped"]) if "skipped" in record else "error", None


def row(ours, baseline):
    batch, context = ours["batch"], ours["context"]
    if "tokens_per_s" not in ours:  # our tool did not time this one
        return [str(batch), str(context), ours.get("skipped", "error")] + ["-"] * 6 + ["FAIL: no figure of ours"]
    cells, rates = [], []
    for impl in IMPLS:
        cell, rate = baseline_cell(baseline.get((impl, batch, context)))
        cells.append(cell)
        if rate:
            rates.append(rate)
    failed = []
    speedup = ours["tokens_per_s"] / max(rates) if rates else None
    if speedup is not None and speedup < MIN_SPEEDUP:
        failed.append(f"speed-up < {MIN_SPEEDUP}")
    bound = ours.get("bandwidth_bound_ms") if batch == 1 else None
    over_bound = ours["ms_per_token"] / bound if bound else None
    if over_bound is not None and over_bound > MAX_OVER_BOUND:
        failed.append(f"over {MAX_OVER_BOUND}x the bound")
    verdict = ("FAIL: " + ", ".join(failed)) if failed else ("PASS" if speedup is not None else "n/a: no PyTorch figure")
    return [str(batch), str(context), f"{ours['tokens_per_s']:,.0f}", *cells,
            f"{speedup:.2f}x" if speedup is not None else "-", f"{ours['ms_per_token']:.3f}",
            f"{bound:.3f}" if bound else "-", f"{over_bound:.2f}x" if over_bound is not None else "-", verdict]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?", default="bench-out")
    parser.add_argument("--record")
    args = parser.parse_args()
    ours = [r for r in load_json(os.path.join(args.out, "ours-decode.json"), []) if r.get("bench") == "decode"]
    pytorch = load_json(os.path.join(args.out, "pytorch-decode.json"), {})
    baseline = {(r["impl"], r["batch"], r["context"]): r for r in pytorch.get("results", [])}

    methods = sorted({f"{r['impl']}: {r['method']}" for r in pytorch.get("results", []) if "method" in r})
    print(f"GPU: {pytorch.get('gpu', '?')}; device copy: ours {ours[0].get('copy_gbs', 0) if ours else 0:.0f} GB/s, "
          f"PyTorch {pytorch.get('copy_gbs', 0):.0f} GB/s; PyTorch methods: {'; '.join(methods) or '-'}")
    header = ["batch", "context", "ours tok/s", "transformers tok/s", "torch-static tok/s", "ours / faster",
              "ours ms/token", "bound ms", "ms / bound", "verdict"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" if i < 9 else "---" for i in range(len(header))) + "|")
    for r in sorted(ours, key=lambda r: (r["batch"], r["context"])):
        print("| " + " | ".join(row(r, baseline)) + " |")
    print(f"bars: ours >= {MIN_SPEEDUP}x the faster PyTorch tokens/s; batch 1: ms/token <= {MAX_OVER_BOUND}x "
          "the bandwidth bound")

    if args.record:
        record = {"gpu": gpu_name() or pytorch.get("gpu"), "commit": commit(),
                  "ours": ours, "pytorch": pytorch}
        with open(args.record, "w") as f:
            json.dump(record, f, indent=1)
            f.write("\n")
        print(f"figures recorded in {args.record}")


if __name__ == "__main__":
    main()
