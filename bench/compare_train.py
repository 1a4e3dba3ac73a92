#!/usr/bin/env python3
"""Prints alibi-lm's training step beside PyTorch's (bench/train.sh writes the inputs)."""
import json
import os
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "bench-out"
torch_runs, peak = {}, None
try:
    baseline = json.load(open(os.path.join(out, "train.json")))
    peak = baseline["meta"].get("peak_tflops_for_mfu")
    for r in baseline["runs"]:
        if r.get("model") == "124M" and "tokens_per_s" in r:
            torch_runs[r["variant"]] = r
except FileNotFoundError:
    pass
if peak:
    print(f"MFU of both against the bf16 matmul peak the baseline measured in this run: {peak:.0f} TFLOP/s")
pairs = [("alibi", "alibi_flex", "ALiBi (PyTorch: FlexAttention)"),
         ("learned", "abspos_sdpa_flash", "learned positions (PyTorch: SDPA flash)")]
print(f"{'124M, B16 x L1024':42s} {'ms/step':>9s} {'tok/s':>10s} {'GiB':>6s} {'MFU':>6s}")
for ours_name, torch_name, label in pairs:
    path = os.path.join(out, f"ours-124m-{ours_name}.json")
    if not os.path.exists(path):
        continue
    o = json.load(open(path))
    print(f"{'alibi-lm, ' + label.split(' (')[0]:42s} {o['ms_per_step_median']:9.2f} {o['tokens_per_s']:10,.0f} "
          f"{o['allocated_gib']:6.2f} {100 * (o['model_tflops'] / peak if peak else o['mfu']):5.1f}%")
    t = torch_runs.get(torch_name)
    if t:
        print(f"{'PyTorch ' + label.split('(PyTorch: ')[1][:-1] + ', torch.compile':42s} {t['ms_per_step']:9.2f} "
              f"{t['tokens_per_s']:10,.0f} {t['peak_mem_GiB']:6.2f} {100 * t['mfu_vs_measured_peak']:5.1f}%")
        print(f"{'  ratio (ours / PyTorch time per step)':42s} {o['ms_per_step_median'] / t['ms_per_step']:9.2f}x")
