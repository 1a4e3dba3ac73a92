#!/usr/bin/env python3
"""Per-op time of one training step, from an ncu CSV of every kernel.

  ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv \
      --log-file ncu.csv alibi-bench train --config C --steps S --warmup 0 ...
  bench/breakdown.py ncu.csv STEPS [MS_PER_STEP] [--json out.json] [--decode]

A step ends with the AdamW update, so the kernels after the last but one
AdamW launch are one steady-state step (the first step also times candidate
matmul algorithms, whose trial launches must not count). Kernels
are grouped into op classes by name; the gap to the measured step time
(MS_PER_STEP, from an untraced run) is time the GPU spent idle (launch
overhead, host synchronisation).
"""
import csv
import json
import sys
from collections import OrderedDict

# First matching pattern names the class; order matters (specific first:
# attention before matmul for "sm90_", matmul before GELU for fused epilogues).
CLASSES = [
    ("attention forward", ["attention_forward"]),
    ("attention backward", ["attention_dkdv", "attention_dq", "row_dot", "row_stats", "dq_from_accumulator"]),
    ("attention decode, KV cache", ["decode_kernel", "decode_partials", "decode_combine", "kv_cache_write"]),
    ("attention (other)", ["attention"]),
    ("matmul (cuBLASLt)", ["gemm", "nvjet", "xmma", "cutlass", "sm90_", "splitk", "epilogue::"]),
    ("matrix-vector products (decode)", ["matvec"]),
    ("greedy choice (argmax)", ["argmax"]),
    ("bias / LayerNorm parameter sums", ["bias_grad", "column_sums", "layernorm_param", "add_chunk_sums",
                                         "param_partials", "param_reduce"]),
    ("cross-entropy / LM head", ["cross_entropy", "classifier"]),
    ("LayerNorm", ["layernorm", "input_grad_kernel", "forward_kernel"]),
    ("GELU (unfused)", ["gelu"]),
    ("embedding", ["embedding", "position", "prepare_sort", "sum_runs", "radixsort"]),
    ("optimizer (AdamW, grad norm)", ["adamw", "partial_kernel", "final_kernel", "squares"]),
    ("residual add / elementwise", ["map1_kernel", "map2_kernel", "addop", "scale", "convert", "dropout"]),
]
UNIT = {"ns": 1e-6, "nsecond": 1e-6, "us": 1e-3, "usecond": 1e-3, "ms": 1.0, "msecond": 1.0, "s": 1e3, "second": 1e3}


def classify(name):
    low = name.lower()
    for label, keys in CLASSES:
        if any(k.lower() in low for k in keys):
            return label
    return "other"


def read_kernels(path):
    with open(path, newline="") as f:
        lines = [l for l in f if l.startswith('"')]
    kernels = []
    for row in csv.DictReader(lines):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        value = float(row["Metric Value"].replace(",", ""))
        kernels.append((row["Kernel Name"], value * UNIT[row["Metric Unit"]], row.get("Grid Size", "")))
    return kernels


def last_step(kernels, steps, path, decode):
    """The kernels of the trace's last complete step. A training step ends
    with its AdamW launch; a decode step (--decode) begins with the token
    embedding, and the trace's last one runs to its end."""
    if decode:
        starts = [i for i, (name, _, _) in enumerate(kernels) if "embedding" in name.lower()]
        if len(starts) < 2:
            sys.exit(f"{len(starts)} embedding launches in {path}: trace a prefill and a decode step")
        return kernels[starts[-1]:]
    updates = [i for i, (name, _, _) in enumerate(kernels) if "adamw" in name.lower()]
    if len(updates) < 2 or steps < 2:
        sys.exit(f"{len(updates)} AdamW launches in {path}: trace at least 2 steps")
    return kernels[updates[-2] + 1:updates[-1] + 1]


def main():
    args = [a for a in sys.argv[1:]]
    json_path = None
    decode = "--decode" in args
    if decode:
        args.remove("--decode")
    if "--json" in args:
        i = args.index("--json")
        json_path = args[i + 1]
        del args[i:i + 2]
    path, steps = args[0], int(args[1])
    step_ms = float(args[2]) if len(args) > 2 else None
    kernels = read_kernels(path)
    step = last_step(kernels, steps, path, decode)
    per_step = len(step)
    by_class, counts = OrderedDict(), OrderedDict()
    for name, ms, _ in step:
        c = classify(name)
        by_class[c] = by_class.get(c, 0.0) + ms
        counts[c] = counts.get(c, 0) + 1
    busy = sum(by_class.values())
    print(f"{per_step} kernels per step, {busy:.2f} ms of kernel time"
          + (f", step {step_ms:.2f} ms (idle {step_ms - busy:.2f} ms)" if step_ms else ""))
    print(f"{'op class':32s} {'ms':>8s} {'share':>6s} {'kernels':>8s}")
    rows = sorted(by_class.items(), key=lambda kv: -kv[1])
    for c, ms in rows:
        print(f"{c:32s} {ms:8.2f} {100 * ms / busy:5.1f}% {counts[c]:8d}")
    if step_ms:
        print(f"{'idle (launch gaps, host syncs)':32s} {step_ms - busy:8.2f}")
    # The heaviest single kernels, by name, to see what each class holds.
    by_name = {}
    for name, ms, grid in step:
        key = name[:110]
        t, n = by_name.get(key, (0.0, 0))
        by_name[key] = (t + ms, n + 1)
    print("\nheaviest kernels (summed over the step):")
    for name, (ms, n) in sorted(by_name.items(), key=lambda kv: -kv[1][0])[:25]:
        print(f"  {ms:7.3f} ms x{n:<4d} {name}")
    if json_path:
        json.dump({"kernels_per_step": per_step, "kernel_ms": busy, "step_ms": step_ms,
                   "classes": [{"class": c, "ms": ms, "kernels": counts[c]} for c, ms in rows],
                   "kernels": [{"name": n[:200], "ms": ms, "grid": g} for n, ms, g in step]},
                  open(json_path, "w"), indent=1)


if __name__ == "__main__":
    main()
