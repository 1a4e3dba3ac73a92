#!/usr/bin/env python3
"""Writes the committed seed corpus of the fuzz harnesses (tests/fuzz/corpus/).

Valid inputs, so the fuzzer starts from the formats' real structure, and the
crafted inputs of issue 16 (wrapping offsets, schema-violating model headers,
deep or duplicate JSON, absurd values), so every run re-checks them.
Run from anywhere: python3 tests/fuzz/make_seed_corpus.py
"""
import json
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

YAML, JSON, SET = b"\x00", b"\x01", b"\x02"  # fuzz_config's first byte picks the form


def write(folder, name, data):
    path = CORPUS / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def config_seeds():
    ok_yaml = b"data:\n  dir: d\nmodel:\n  n_layer: 2\n  position: rotary\ntrain:\n  lr: 3e-4\n  steps: 1e5\n"
    write("config", "valid.yaml", YAML + ok_yaml)
    write("config", "valid.json", JSON + b'{"data": {"dir": "d"}, "train": {"lr": 0.001, "seq_len": 64}}')
    write("config", "set-lr", SET + b"train.lr=3e-4")
    write("config", "deep.json", JSON + b'{"model": ' + b"[" * 2000 + b"]" * 2000 + b"}")
    write("config", "deep.yaml", YAML + b"model: " + b"[" * 2000 + b"]" * 2000 + b"\n")
    write("config", "duplicate.json", JSON + b'{"data": {"dir": "d"}, "train": {"lr": 0.1, "lr": 0.2}}')
    write("config", "duplicate.yaml", YAML + b"data:\n  dir: d\ntrain:\n  lr: 0.1\n  lr: 0.2\n")
    write("config", "overflow.json", JSON + b'{"data": {"dir": "d"}, "train": {"lr": 1e400}}')
    write("config", "threads.yaml", YAML + b"data:\n  dir: d\nruntime:\n  threads: 1000000\n")
    write("config", "global-batch", SET + b"train.global_batch=2147483647")
    write("config", "seq-len", SET + b"train.seq_len=2147483647")
    write("config", "valid-split", SET + b"data.valid_split=vaild")


def shard(tokens, vocab, width=None, count=None):
    width = width or (2 if vocab <= 65536 else 4)
    header = b"ALIBITOK" + struct.pack("<IIQI I", 1, width, len(tokens) if count is None else count, vocab, 0)
    header += b"0123456789abcdef" + b"\x00" * 16
    fmt = "<H" if width == 2 else "<I"
    return header + b"".join(struct.pack(fmt, t) for t in tokens)


def shard_seeds():
    write("shard", "valid-u16", shard([i % 96 for i in range(200)], 96))
    write("shard", "valid-u32", shard([i * 7 % 70000 for i in range(50)], 70000))
    write("shard", "token-beyond-vocab", shard([1, 2, 3, 96, 5], 96))
    write("shard", "count-overflow", shard([1, 2], 96, count=2**63 + 1))
    write("shard", "truncated", shard([1, 2, 3], 96)[:-3])
    # Found by fuzzing: ids below a vocabulary past 2^31 - 1 read back negative.
    write("shard", "vocab-beyond-int32", shard([5, 2**31 + 7, 9], 2**32 - 129))


def model_tensors(c=8, f=32, v=10):
    """The parameter tensors of a one-layer model (docs/checkpoint.md), so the valid seed loads completely."""
    block = [("ln1.weight", [c]), ("ln1.bias", [c]), ("attn.qkv.weight", [3 * c, c]), ("attn.qkv.bias", [3 * c]),
             ("attn.proj.weight", [c, c]), ("attn.proj.bias", [c]), ("ln2.weight", [c]), ("ln2.bias", [c]),
             ("mlp.fc.weight", [f, c]), ("mlp.fc.bias", [f]), ("mlp.out.weight", [c, f]), ("mlp.out.bias", [c])]
    names = [("wte", [v, c])] + [("blocks.0." + n, s) for n, s in block] + [("lnf.weight", [c]), ("lnf.bias", [c])]
    return [("param/" + n, s) for n, s in names]


def checkpoint_body(header):
    """A checkpoint without its trailer (fuzz_checkpoint appends checksum and end marker)."""
    tensors, data = [], b""
    for name, shape in model_tensors():
        count = 1
        for d in shape:
            count *= d
        tensors.append({"name": name, "dtype": "f32", "shape": shape, "offset": len(data), "nbytes": 4 * count})
        data += struct.pack(f"<{count}f", *([0.25] * count))
        data += b"\x00" * (-len(data) % 64)
    full = {
        "format_version": 1, "step": 7, "tokens_seen": 0, "loader_position": 0, "rng_state": "12345",
        "tokenizer_id": "0123456789abcdef", "data_vocab": 10,
        "model": {"position": "alibi", "n_layer": 1, "d_model": 8, "n_head": 2, "d_ff": 32, "vocab": 10,
                  "max_position": 0, "layernorm_eps": 1e-5, "rotary_base": 10000.0, "dropout": 0.0,
                  "embed_layernorm": False},
        "config_yaml": "data:\n  dir: /nonexistent\n", "tensors": tensors, "data_bytes": len(data),
    }
    header(full)
    text = json.dumps(full, indent=1).encode()
    prefix = b"ALIBICKP" + struct.pack("<IIQ", 1, 0, len(text)) + text
    prefix += b"\x00" * (-len(prefix) % 64)
    return prefix + data


def checkpoint_seeds():
    def model(field, value):
        return lambda h: h["model"].__setitem__(field, value)

    write("checkpoint", "valid", checkpoint_body(lambda h: None))
    write("checkpoint", "offset-wraps", checkpoint_body(lambda h: h["tensors"][1].__setitem__("offset", 2**64 - 8)))
    write("checkpoint", "shape-2pow64", checkpoint_body(lambda h: h["tensors"][0].__setitem__("shape", [2**32, 2**32])))
    write("checkpoint", "n-head-0", checkpoint_body(model("n_head", 0)))
    write("checkpoint", "n-layer-negative", checkpoint_body(model("n_layer", -3)))
    write("checkpoint", "d-model-3.9e19", checkpoint_body(model("d_model", 3.9e19)))
    write("checkpoint", "n-layer-million", checkpoint_body(model("n_layer", 1000000)))
    write("checkpoint", "rng-abc", checkpoint_body(lambda h: h.__setitem__("rng_state", "abc")))


if __name__ == "__main__":
    config_seeds()
    shard_seeds()
    checkpoint_seeds()
    print(f"seed corpus written to {CORPUS}")
