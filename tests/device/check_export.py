#!/usr/bin/env python3
"""Reads an alibi-export folder two independent ways and checks both against our own logits.

  check_export.py FOLDER

FOLDER must hold reference.safetensors (alibi-export --reference-tokens N): "tokens" [B, T]
and "logits" [B, T, V], computed by our CPU (fp32) or CUDA (bf16) backend, as its metadata
"backend" says. Readers, both in fp32 (on the GPU when there is one, TF32 off):
  transformers  AutoModelForCausalLM.from_pretrained(FOLDER), eager attention
  alibi_torch   scripts/alibi_torch.py, plain PyTorch
Each against the reference: relative L2 error ||logits - ref|| / ||ref||, max abs difference,
top-1 agreement; bars: cpu reference rel_l2 <= 2e-4 and max_abs <= 1e-2, cuda reference
rel_l2 <= 3e-2 and top1 >= 0.97. The two readers against each other: rel_l2 <= 1e-4.
Prints one line per comparison and exits 1 if any fails.
"""
import os
import sys

import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import alibi_torch  # noqa: E402


def read_reference(folder):
    with safe_open(os.path.join(folder, "reference.safetensors"), framework="pt") as f:
        backend = (f.metadata() or {}).get("backend", "cpu")
        return f.get_tensor("tokens").long(), f.get_tensor("logits").float(), backend


def transformers_logits(folder, tokens):
    model, info = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager",
                                                       output_loading_info=True)
    # the LM head is tied to the embedding, so lm_head.weight is the one key the file may lack
    missing = [k for k in info.get("missing_keys", []) if k != "lm_head.weight"]
    unexpected = list(info.get("unexpected_keys", []))
    mismatched = list(info.get("mismatched_keys", []))
    if missing or unexpected or mismatched:
        raise RuntimeError(f"transformers read the folder with missing keys {missing}, unexpected {unexpected}, "
                           f"mismatched {mismatched}")
    model = model.to(tokens.device).eval()
    return model(input_ids=tokens, use_cache=False).logits.float()


def errors(logits, ref):
    """(relative L2 error, max abs difference, top-1 agreement) of logits against ref."""
    diff = logits - ref
    rel_l2 = (diff.norm() / ref.norm()).item()
    max_abs = diff.abs().max().item()
    top1 = (logits.argmax(-1) == ref.argmax(-1)).float().mean().item()
    return rel_l2, max_abs, top1


def report(name, logits, ref, passes):
    rel_l2, max_abs, top1 = errors(logits, ref)
    ok = bool(torch.isfinite(logits).all()) and passes(rel_l2, max_abs, top1)  # NaN never passes
    print(f"{name}: {'PASS' if ok else 'FAIL'} rel_l2={rel_l2:.3e} max_abs={max_abs:.3e} top1={top1:.4f}")
    return ok


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    folder = sys.argv[1]
    torch.set_float32_matmul_precision("highest")  # no TF32: the cpu reference is plain fp32
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokens, ref, backend = read_reference(folder)
    tokens, ref = tokens.to(device), ref.to(device)
    print(f"reference: tokens {tuple(tokens.shape)}, logits {tuple(ref.shape)}, backend {backend}; "
          f"readers in fp32 on {device}")
    if backend == "cpu":
        def against_reference(rel_l2, max_abs, top1):
            return rel_l2 <= 2e-4 and max_abs <= 1e-2
    else:  # our CUDA backend computes in bf16
        def against_reference(rel_l2, max_abs, top1):
            return rel_l2 <= 3e-2 and top1 >= 0.97

    with torch.no_grad():
        hf = transformers_logits(folder, tokens)
        ours = alibi_torch.load(folder, device, torch.float32).logits(tokens)
    results = [report("transformers", hf, ref, against_reference),
               report("alibi_torch", ours, ref, against_reference),
               report("transformers vs alibi_torch", hf, ours, lambda rel_l2, max_abs, top1: rel_l2 <= 1e-4)]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
