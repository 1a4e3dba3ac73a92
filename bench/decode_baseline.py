#!/usr/bin/env python3
"""PyTorch decode speed on an exported alibi-lm folder (BLOOM layout), the baseline for
`alibi-bench decode` (bench/decode.sh runs both and bench/compare_decode.py compares them).

  decode_baseline.py --folder DIR [--batch 1,32] [--context 1024,16384] [--new-tokens 64] --json OUT

For each (batch, context): a seeded random prompt of `context` tokens, its KV cache filled by
a chunked prefill (untimed), then `new_tokens` greedy one-token steps timed with CUDA events
(median of --repeats runs from the same cache; tokens/s = batch * new_tokens / time).
Two implementations, both bf16 on the GPU:
  transformers  BloomForCausalLM (eager attention, the only one BLOOM has) with a DynamicCache,
                timed through model.generate() (or a manual loop if that fails: "method")
  torch-static  scripts/alibi_torch.py's model over a preallocated [L, 2, B, H, S, D] cache
                written in place, one decode step compiled with torch.compile
Also the device copy bandwidth (2 GiB, copy_, median of 5). Writes {"gpu", "copy_gbs",
"results": [...]} after every configuration; one that runs out of memory is recorded as
{"skipped": "out of memory"}, any other failure as {"error": ...}.
"""
import argparse
import gc
import json
import os
import statistics
import sys
import time
import traceback

import torch
import transformers
from transformers import BloomForCausalLM, DynamicCache

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import alibi_torch  # noqa: E402

T0 = time.time()
SCORE_BUDGET_BYTES = 4 << 30  # per prefill chunk: the [B, H, chunk, kv] scores and softmax temporaries
CACHE_ROUND = 256             # the static cache holds context + new_tokens rounded up to this
COMPILE_MODES = ["reduce-overhead", "max-autotune-no-cudagraphs"]  # CUDA graphs first; the second if it fails


def log(*parts):
    print(f"[{time.time() - T0:7.1f}s]", *parts, flush=True)


def median_ms(run, repeats, reset=None):
    """Median time of run() in ms between CUDA events over `repeats` runs; reset() (untimed) before each."""
    times = []
    for _ in range(repeats):
        if reset:
            reset()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times), times


def copy_bandwidth_gbs(nbytes=2 << 30):
    """Device-to-device copy rate, counting bytes read plus bytes written (random data, not zeros)."""
    src = torch.randn(nbytes // 2, device="cuda", dtype=torch.bfloat16)
    dst = torch.empty_like(src)
    dst.copy_(src)  # warm-up
    ms, _ = median_ms(lambda: dst.copy_(src), repeats=5)
    del src, dst
    torch.cuda.empty_cache()
    return 2 * nbytes / (ms * 1e-3) / 1e9


def prefill_chunk(batch, heads, kv_len, bytes_per_score):
    """Prompt tokens per prefill forward so that its [B, H, chunk, kv_len] attention scores
    (and softmax temporaries, bytes_per_score per score) stay within SCORE_BUDGET_BYTES."""
    return max(1, min(512, SCORE_BUDGET_BYTES // (batch * heads * kv_len * bytes_per_score)))


def transformers_decode(model, prompt, new_tokens, repeats):
    B, T = prompt.shape
    cache = DynamicCache()
    # The cache gets all prompt tokens but the last: generate() then runs that one (its prefill
    # step, one token) and new_tokens - 1 new ones, new_tokens one-token steps in all.
    # BLOOM's eager attention materialises [B*H, chunk, kv] scores (bf16 + fp32 softmax): chunks.
    chunk = prefill_chunk(B, model.config.n_head, T, bytes_per_score=10)
    for s in range(0, T - 1, chunk):
        model.transformer(input_ids=prompt[:, s:min(s + chunk, T - 1)], past_key_values=cache, use_cache=True)
    ones = torch.ones_like(prompt)
    out = {}

    def generate():
        out["ids"] = model.generate(input_ids=prompt, attention_mask=ones, past_key_values=cache,
                                    max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                                    pad_token_id=model.config.eos_token_id)
        out["first"] = out["ids"][:, T]

    def manual_loop():  # the same steps by hand: last prompt token, then new_tokens - 1 generated ones
        tokens = prompt[:, -1:]
        for i in range(new_tokens):
            logits = model(input_ids=tokens, past_key_values=cache, use_cache=True).logits
            tokens = logits[:, -1].argmax(-1, keepdim=True)
            if i == 0:
                out["first"] = tokens[:, 0]

    def reset():  # back to the prefilled prompt: each run appends new_tokens to the cache
        cache.crop(T - 1)

    method, run = "generate", generate
    try:
        reset()
        generate()  # warm-up, and the check that a prefilled cache works here
        if out["ids"].shape != (B, T + new_tokens):
            raise RuntimeError(f"generate returned {tuple(out['ids'].shape)}, not {(B, T + new_tokens)}")
    except torch.cuda.OutOfMemoryError:
        raise
    except Exception:
        log("generate() with a prefilled cache failed; timing a manual loop instead:\n" + traceback.format_exc())
        method, run = "manual loop", manual_loop
        reset()
        manual_loop()  # warm-up
    ms, runs = median_ms(run, repeats, reset)
    return {"method": method, "prefill_chunk": chunk}, ms, runs, out["first"]


class StaticDecoder(torch.nn.Module):
    """One greedy step over a preallocated KV cache [L, 2, B, H, S, D]: the shapes never change
    with the position (a tensor; keys after it are masked), so one compiled graph serves all steps."""

    def __init__(self, model, batch, max_len):
        super().__init__()
        c = model.config
        heads = c["n_head"]
        weight = model.transformer.word_embeddings.weight
        self.model = model
        # zeros, not empty: masked keys still meet the matmuls, and 0 * NaN would be NaN
        self.register_buffer("cache", torch.zeros(c["n_layer"], 2, batch, heads, max_len, c["hidden_size"] // heads,
                                                  dtype=weight.dtype, device=weight.device))
        # a fixed address, so that CUDA graphs neither copy the cache in nor skip its in-place writes
        torch._dynamo.mark_static_address(self.cache)

    def forward(self, tokens, position):
        """tokens [B, 1] at position (int64 tensor [1]) -> the next tokens [B, 1]."""
        hidden = self.model.hidden(tokens, self.cache, position)
        return self.model.head(hidden[:, -1]).argmax(-1, keepdim=True)

    def prefill(self, tokens, chunk):
        for s in range(0, tokens.shape[1], chunk):
            self.model.hidden(tokens[:, s:s + chunk], self.cache, torch.tensor([s], device=tokens.device))


def torch_static_decode(model, prompt, new_tokens, repeats, modes):
    B, T = prompt.shape
    max_len = -(-(T + new_tokens) // CACHE_ROUND) * CACHE_ROUND
    decoder = StaticDecoder(model, B, max_len)
    # as for transformers: the cache gets all prompt tokens but the last, which is the first step's input
    chunk = prefill_chunk(B, model.config["n_head"], max_len, bytes_per_score=12)
    decoder.prefill(prompt[:, :-1], chunk)
    last_prompt_token = prompt[:, -1:].clone()
    start = torch.tensor([T - 1], device=prompt.device)
    position = start.clone()
    out = {}

    def run():
        tokens = last_prompt_token
        for i in range(new_tokens):
            torch.compiler.cudagraph_mark_step_begin()
            tokens = step(tokens, position).clone()  # a CUDA graph's output is overwritten by its next replay
            position.add_(1)
            if i == 0:
                out["first"] = tokens[:, 0]

    def reset():
        position.copy_(start)

    for mode in modes:
        step = torch.compile(decoder, mode=mode, dynamic=False)
        try:
            reset()
            run()  # compilation and CUDA graph capture, untimed
            break
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception:
            log(f"torch.compile(mode={mode}) failed:\n" + traceback.format_exc())
            torch._dynamo.reset()
            if mode == modes[-1]:
                raise
    ms, runs = median_ms(run, repeats, reset)
    # every step reads all weights and the whole static cache: the bytes behind an effective rate
    step_bytes = sum(t.numel() * t.element_size() for t in [*model.parameters(), decoder.cache])
    extra = {"method": f"torch.compile(mode={mode})", "cache_len": max_len, "prefill_chunk": chunk,
             "effective_gbs": step_bytes / (ms / new_tokens * 1e-3) / 1e9}
    return extra, ms, runs, out["first"]


def free_memory():
    gc.collect()
    torch._dynamo.reset()  # compiled graphs and their CUDA graph memory pools
    torch.cuda.empty_cache()


def measure(impl, decode, base):
    """One implementation on one (batch, context): its record and its first generated tokens."""
    record, first = dict(base, impl=impl), None
    try:
        extra, ms, runs, first = decode()
        n = base["new_tokens"]
        record.update(extra, ms_per_token=ms / n, tokens_per_s=base["batch"] * n / (ms * 1e-3),
                      runs_ms=[round(t, 3) for t in runs])
        log(f"{impl} B={base['batch']} T={base['context']}: {ms / n:.3f} ms/token, "
            f"{record['tokens_per_s']:,.0f} tokens/s ({extra['method']})")
    except torch.cuda.OutOfMemoryError:
        record["skipped"] = "out of memory"
        log(f"{impl} B={base['batch']} T={base['context']}: out of memory, skipped")
    except Exception as e:
        record["error"] = f"{type(e).__name__}: {e}"[:2000]
        log(f"{impl} B={base['batch']} T={base['context']} failed:\n" + traceback.format_exc())
    first = None if first is None else first.cpu()
    free_memory()
    return record, first


def parse_ints(text):
    return [int(x) for x in text.split(",")]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", required=True, help="exported model folder (config.json, model.safetensors)")
    parser.add_argument("--batch", type=parse_ints, default=[1, 32])
    parser.add_argument("--context", type=parse_ints, default=[1024, 16384])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--impl", default="transformers,torch-static", help="which implementations to time")
    parser.add_argument("--compile-mode", help="one torch.compile mode instead of trying " + ", ".join(COMPILE_MODES))
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    impls = args.impl.split(",")
    if not set(impls) <= {"transformers", "torch-static"}:
        parser.error(f"--impl {args.impl}: each must be transformers or torch-static")
    modes = [args.compile_mode] if args.compile_mode else COMPILE_MODES

    report = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
              "transformers": transformers.__version__, "folder": args.folder, "results": []}

    def save():  # after every configuration: what ran is kept if a later one crashes the process
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
            f.write("\n")

    log(report["gpu"], "torch", report["torch"], "transformers", report["transformers"])
    report["copy_gbs"] = copy_bandwidth_gbs()
    log(f"device copy: {report['copy_gbs']:.0f} GB/s")
    save()
    hf_model = BloomForCausalLM.from_pretrained(args.folder, dtype=torch.bfloat16, attn_implementation="eager")
    hf_model = hf_model.to("cuda").eval()
    our_model = alibi_torch.load(args.folder, "cuda", torch.bfloat16)
    vocab = our_model.config["vocab_size"]
    for batch in args.batch:
        for context in args.context:
            generator = torch.Generator(device="cuda").manual_seed(args.seed)
            prompt = torch.randint(0, vocab, (batch, context), generator=generator, device="cuda")
            base = {"batch": batch, "context": context, "new_tokens": args.new_tokens}
            decoders = {
                "transformers": lambda: transformers_decode(hf_model, prompt, args.new_tokens, args.repeats),
                "torch-static": lambda: torch_static_decode(our_model, prompt, args.new_tokens, args.repeats, modes),
            }
            first_tokens = {}
            for impl in impls:
                record, first_tokens[impl] = measure(impl, decoders[impl], base)
                report["results"].append(record)
                save()
            a, b = first_tokens.get("transformers"), first_tokens.get("torch-static")
            if a is not None and b is not None:  # the two readings of the folder should mostly pick the same token
                report["results"][-1]["first_token_agreement"] = (a == b).float().mean().item()
                save()
    log(f"wrote {args.json}")


if __name__ == "__main__":
    with torch.no_grad():
        main()
