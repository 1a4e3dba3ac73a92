#!/usr/bin/env python3
"""Prints our attention TFLOP/s beside FlexAttention ALiBi and cuDNN causal (bench/attention.sh).

  compare_attention.py OUT_DIR [--record FILE]

--record also writes {"gpu", "commit", "ours": [the alibi-bench attention --json objects],
"pytorch": <the baseline's attn.json>} to FILE, the commit from $ALIBI_COMMIT or git.
"""
import glob
import json
import os
import sys

from run_facts import commit, gpu_name

args = sys.argv[1:]
record_path = None
if "--record" in args:
    i = args.index("--record")
    record_path = args[i + 1]
    del args[i:i + 2]
out = args[0] if args else "bench-out"
torch, baseline = {}, {}
try:
    baseline = json.load(open(os.path.join(out, "attn.json")))
    for r in baseline["attn"]:
        if "fwd_tflops" in r:
            torch[(r["variant"], r["D"], r["L"])] = r
except FileNotFoundError:
    pass


def tf(r, key):
    return f"{r[key]:6.1f}" if r and key in r else "     -"


def deterministic_fwdbwd(D, L):
    """forward+backward TFLOP/s of our deterministic backward, or None."""
    path = os.path.join(out, f"ours-attn-det-D{D}-L{L}.json")
    if not os.path.exists(path):
        return None
    return next(r for r in json.load(open(path))["rows"] if r["bias"] == "alibi")["fwdbwd_tflops"]


print("TFLOP/s, causal, bf16 (forward / forward+backward); ratios are ours over theirs, forward+backward;")
print("'det.': forward+backward with the deterministic backward (runtime.deterministic)")
print(f"{'D':>3} {'H':>2} {'L':>6} | {'ours ALiBi':>15} | {'det.':>6} | {'Flex ALiBi':>15} | {'cuDNN no bias':>15} | "
      f"{'vs Flex':>7} {'vs cuDNN':>8} | bias cost")
for path in sorted(glob.glob(os.path.join(out, "ours-attn-D*.json")), key=lambda p: (len(p), p)):
    rows = json.load(open(path))["rows"]
    ours = next(r for r in rows if r["bias"] == "alibi")
    zero = next(r for r in rows if r["bias"] == "slope0")
    D, H, L = ours["D"], ours["H"], ours["L"]
    flex, cudnn = torch.get(("flex_alibi", D, L)), torch.get(("sdpa_cudnn_causal", D, L))
    vs = lambda t: f"{ours['fwdbwd_tflops'] / t['fwdbwd_tflops']:6.2f}x" if t and "fwdbwd_tflops" in t else "      -"
    det = deterministic_fwdbwd(D, L)
    det_text = f"{det:6.1f}" if det is not None else "     -"
    print(f"{D:3d} {H:2d} {L:6d} | {tf(ours, 'fwd_tflops')} {tf(ours, 'fwdbwd_tflops')} | {det_text} | "
          f"{tf(flex, 'fwd_tflops')} {tf(flex, 'fwdbwd_tflops')} | {tf(cudnn, 'fwd_tflops')} {tf(cudnn, 'fwdbwd_tflops')} | "
          f"{vs(flex):>7} {vs(cudnn):>8} | {100 * (ours['fwd_ms'] / zero['fwd_ms'] - 1):+5.1f}%")

if record_path:
    ours = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, "ours-attn-*.json")))]
    record = {"gpu": gpu_name() or baseline.get("meta", {}).get("gpu"), "commit": commit(),
              "ours": ours, "pytorch": baseline}
    with open(record_path, "w") as f:
        json.dump(record, f, indent=1)
    print(f"figures recorded in {record_path}")
