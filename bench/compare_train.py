#!/usr/bin/env python3
"""Prints alibi-lm's training step beside PyTorch's (bench/train.sh writes the inputs).

  compare_train.py OUT_DIR [--record FILE]
--record also writes every figure of the run to FILE as
{"gpu", "commit", "ours": [alibi-bench train JSONs], "pytorch": train.json},
the commit from $ALIBI_COMMIT or git.

GiB: ours is the device memory the driver saw the process take (device_gib,
beyond the CUDA context), PyTorch's its max_memory_allocated.
"""
import argparse
import json
import os

from run_facts import commit, gpu_name

parser = argparse.ArgumentParser()
parser.add_argument("out", nargs="?", default="bench-out")
parser.add_argument("--record")
args = parser.parse_args()
out = args.out
torch_runs, peak, baseline = {}, None, None
try:
    baseline = json.load(open(os.path.join(out, "train.json")))
    peak = baseline["meta"].get("peak_tflops_for_mfu")
    for r in baseline["runs"]:
        if "tokens_per_s" in r:
            torch_runs[(r.get("model"), r["variant"])] = r
except FileNotFoundError:
    pass
if peak:
    print(f"MFU of both against the bf16 matmul peak the baseline measured in this run: {peak:.0f} TFLOP/s")
models = [("124M", "124m", "B16 x L1024"), ("350M", "350m", "B8 x L1024")]
pairs = [("alibi", "alibi_flex", "ALiBi", "FlexAttention"),
         ("learned", "abspos_sdpa_flash", "learned positions", "SDPA flash")]
for model, tag, shape in models:
    print(f"{model + ', ' + shape:42s} {'ms/step':>9s} {'tok/s':>10s} {'GiB':>6s} {'MFU':>6s}")
    for ours_name, torch_name, label, torch_attention in pairs:
        path = os.path.join(out, f"ours-{tag}-{ours_name}.json")
        if not os.path.exists(path):
            continue
        o = json.load(open(path))
        gib = o.get("device_gib", o["allocated_gib"])
        print(f"{'alibi-lm, ' + label:42s} {o['ms_per_step_median']:9.2f} {o['tokens_per_s']:10,.0f} "
              f"{gib:6.2f} {100 * (o['model_tflops'] / peak if peak else o['mfu']):5.1f}%")
        t = torch_runs.get((model, torch_name))
        if t:
            print(f"{'PyTorch ' + torch_attention + ', torch.compile':42s} {t['ms_per_step']:9.2f} "
                  f"{t['tokens_per_s']:10,.0f} {t['peak_mem_GiB']:6.2f} {100 * t['mfu_vs_measured_peak']:5.1f}%")
            print(f"{'  ratio (ours / PyTorch time per step)':42s} {o['ms_per_step_median'] / t['ms_per_step']:9.2f}x")


if args.record:
    ours = [json.load(open(os.path.join(out, name))) for name in sorted(os.listdir(out))
            if name.startswith("ours-") and name.endswith(".json")]
    record = {"gpu": gpu_name(), "commit": commit(),
              "ours": ours, "pytorch": baseline}
    with open(args.record, "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    print(f"figures recorded in {args.record}")
