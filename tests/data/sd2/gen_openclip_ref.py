#!/usr/bin/env python3
"""Reference outputs for sdc's OpenCLIP (SD 2.x) text-encoder layout.

The tiny reference model's CLIP text weights, rearranged into OpenCLIP's
layout (fused in_proj of torch.nn.MultiheadAttention, ln_1/ln_2,
mlp.c_fc/c_proj, ln_final, positional_embedding) and run with PyTorch's own
nn.MultiheadAttention + GELU, as OpenCLIP's ViT-H text tower does: an
implementation independent of sdc's. Writes openclip_ref.safetensors with
the token ids and the outputs after the last and the penultimate layer
(both followed by ln_final, SD 2.x's "penultimate" conditioning).

Run: /usr/bin/python3 tests/data/sd2/gen_openclip_ref.py ../shared
"""
import json
import struct
import sys

import numpy as np
import torch

shared = sys.argv[1] if len(sys.argv) > 1 else "../shared"


def load(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        dt = {"F32": np.float32, "I32": np.int32, "I64": np.int64}[v["dtype"]]
        a, b = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(data[8 + n + a:8 + n + b], dtype=dt).reshape(v["shape"]).copy())
    return out


def save(path, tensors):
    header, blobs, off = {}, [], 0
    for k, t in tensors.items():
        a = np.ascontiguousarray(t.numpy())
        dt = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32"}[a.dtype]
        b = a.tobytes()
        header[k] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


w = load(f"{shared}/reference/model/sd15-random-tiny.safetensors")
P = "cond_stage_model.transformer.text_model."
ids = load(f"{shared}/reference/tiny/text/astronaut.safetensors")["input_ids"].long()
D = w[P + "embeddings.token_embedding.weight"].shape[1]
L = sum(1 for k in w if k.startswith(P + "encoder.layers.") and k.endswith("mlp.fc1.weight"))
heads = 4  # the tiny model's head count (8-wide heads)

layers = []
for i in range(L):
    q = f"{P}encoder.layers.{i}."
    mha = torch.nn.MultiheadAttention(D, heads, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([w[q + f"self_attn.{n}_proj.weight"] for n in "qkv"]))
        mha.in_proj_bias.copy_(torch.cat([w[q + f"self_attn.{n}_proj.bias"] for n in "qkv"]))
        mha.out_proj.weight.copy_(w[q + "self_attn.out_proj.weight"])
        mha.out_proj.bias.copy_(w[q + "self_attn.out_proj.bias"])
    layers.append((mha, q))

T = ids.shape[1]
mask = torch.full((T, T), float("-inf")).triu(1)


def ln(x, name):
    return torch.nn.functional.layer_norm(x, (D,), w[name + ".weight"], w[name + ".bias"], 1e-5)


def run(n_layers):
    x = w[P + "embeddings.token_embedding.weight"][ids] + w[P + "embeddings.position_embedding.weight"][:T]
    with torch.no_grad():
        for mha, q in layers[:n_layers]:
            h = ln(x, q + "layer_norm1")
            x = x + mha(h, h, h, need_weights=False, attn_mask=mask)[0]
            h = ln(x, q + "layer_norm2")
            h = torch.nn.functional.gelu(h @ w[q + "mlp.fc1.weight"].T + w[q + "mlp.fc1.bias"])
            x = x + h @ w[q + "mlp.fc2.weight"].T + w[q + "mlp.fc2.bias"]
    return ln(x, P + "final_layer_norm")


save("tests/data/sd2/openclip_ref.safetensors",
     {"input_ids": ids.int(), "last": run(L).float(), "penultimate": run(L - 1).float()})
print("wrote tests/data/sd2/openclip_ref.safetensors")
