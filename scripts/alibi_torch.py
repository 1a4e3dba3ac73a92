#!/usr/bin/env python3
"""An exported alibi-lm folder (BLOOM layout: config.json, model.safetensors) read with
plain PyTorch, without transformers: the proof that any PyTorch user can read our weights.

  model = alibi_torch.load(folder, "cuda", torch.float32)
  logits = model.logits(tokens)              # tokens [B, T] int64 -> [B, T, V] float32

The modules are named after the safetensors keys, so load_state_dict(strict=True) checks
that every tensor is there with its shape. hidden() also takes a preallocated KV cache
[L, 2, B, H, S, D] and the position of the first token, for bench/decode_baseline.py.

  python3 scripts/alibi_torch.py --folder DIR --tokens 1,2,3
"""
import argparse
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file


def alibi_slopes(n_head):
    """The paper's slopes: 2^(-8(h+1)/n) for a power of two n; otherwise those of the
    largest power of two n below n_head, then every other slope of 2n (exponents 1, 3, 5, ...)."""
    def power_of_two(n):
        return [2.0 ** (-8.0 * (h + 1) / n) for h in range(n)]
    n = 1 << (n_head.bit_length() - 1)
    return power_of_two(n) + power_of_two(2 * n)[0::2][: n_head - n]


def alibi_attention(q, k, v, q_positions, slopes):
    """q [B, H, T, D] at positions q_positions [T]; k, v [B, H, S, D] at positions 0..S-1.
    Scores q.k/sqrt(D) - m_h (i - j); keys after the query (j > i) are masked, which also
    hides the unwritten tail of a static cache (it must hold finite values: zeros)."""
    distance = (q_positions[:, None] - torch.arange(k.shape[2], device=q.device)[None, :]).float()  # [T, S]
    bias = (-slopes[:, None, None] * distance).masked_fill(distance < 0, float("-inf"))  # [H, T, S]
    scores = torch.matmul(q, k.transpose(-1, -2)).float() / math.sqrt(q.shape[-1]) + bias
    return torch.matmul(torch.softmax(scores, dim=-1).to(v.dtype), v)


class Attention(nn.Module):
    def __init__(self, hidden, n_head):
        super().__init__()
        self.n_head = n_head
        self.query_key_value = nn.Linear(hidden, 3 * hidden)
        self.dense = nn.Linear(hidden, hidden)

    def forward(self, x, positions, slopes, layer_cache):
        B, T, C = x.shape
        # BLOOM's fused layout: output rows ordered (head, {q, k, v}, d).
        qkv = self.query_key_value(x).view(B, T, self.n_head, 3, C // self.n_head).permute(3, 0, 2, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, H, T, D]
        if layer_cache is not None:  # [2, B, H, S, D]: write this step's keys/values, attend over all S
            layer_cache[0].index_copy_(2, positions, k)
            layer_cache[1].index_copy_(2, positions, v)
            k, v = layer_cache[0], layer_cache[1]
        y = alibi_attention(q, k, v, positions, slopes)
        return self.dense(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.dense_h_to_4h = nn.Linear(hidden, 4 * hidden)
        self.dense_4h_to_h = nn.Linear(4 * hidden, hidden)

    def forward(self, x):
        return self.dense_4h_to_h(F.gelu(self.dense_h_to_4h(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, hidden, n_head, eps):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(hidden, eps=eps)
        self.self_attention = Attention(hidden, n_head)
        self.post_attention_layernorm = nn.LayerNorm(hidden, eps=eps)
        self.mlp = MLP(hidden)

    def forward(self, x, positions, slopes, layer_cache):
        x = x + self.self_attention(self.input_layernorm(x), positions, slopes, layer_cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Transformer(nn.Module):
    def __init__(self, config):
        super().__init__()
        C, eps = config["hidden_size"], config["layer_norm_epsilon"]
        self.word_embeddings = nn.Embedding(config["vocab_size"], C)
        self.word_embeddings_layernorm = nn.LayerNorm(C, eps=eps)
        self.h = nn.ModuleList(Block(C, config["n_head"], eps) for _ in range(config["n_layer"]))
        self.ln_f = nn.LayerNorm(C, eps=eps)


class AlibiLM(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = Transformer(config)
        self.register_buffer("slopes", torch.tensor(alibi_slopes(config["n_head"])), persistent=False)

    def hidden(self, tokens, cache=None, start=None):
        """Final hidden states [B, T, C] (after ln_f) of tokens [B, T] at positions start..start+T-1
        (start: None for 0, or an int64 tensor [1]); cache: None or [L, 2, B, H, S, D], updated in place."""
        t = self.transformer
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        if start is not None:
            positions = positions + start
        x = t.word_embeddings_layernorm(t.word_embeddings(tokens))
        for i, block in enumerate(t.h):
            x = block(x, positions, self.slopes, None if cache is None else cache[i])
        return t.ln_f(x)

    def head(self, hidden):
        return F.linear(hidden, self.transformer.word_embeddings.weight)  # tied LM head

    def logits(self, tokens):
        return self.head(self.hidden(tokens)).float()

    forward = logits


def load(folder, device="cpu", dtype=torch.float32):
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    weights = load_file(os.path.join(folder, "model.safetensors"), device=str(device))
    with torch.device("meta"):  # no random init: the weights are assigned below
        model = AlibiLM(config)
    model.load_state_dict({k: v.to(dtype) for k, v in weights.items()}, strict=True, assign=True)
    model.slopes = torch.tensor(alibi_slopes(config["n_head"]), dtype=torch.float32, device=device)
    return model.eval().requires_grad_(False)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", required=True)
    parser.add_argument("--tokens", required=True, help="comma-separated token ids")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load(args.folder, device, torch.float32)
    tokens = torch.tensor([[int(t) for t in args.tokens.split(",")]], device=device)
    with torch.no_grad():
        logits = model.logits(tokens)
    print("logits", tuple(logits.shape), "argmax", logits[0].argmax(-1).tolist())


if __name__ == "__main__":
    main()
