#!/usr/bin/python3
"""Reference data for sdc's LoRA merging and ControlNet (tests/ref/test_lora*.c,
tests/ref/test_controlnet*.c), computed independently of sdc with PyTorch.

Run from the repository root with Debian's python3-torch:
    /usr/bin/python3 tests/data/control/make_refs.py
It reads the shared tiny SD 1.5-topology model (../shared/reference) and writes
into tests/data/control/:

  lora_kohya.safetensors   kohya / A1111 LoRA (diffusers module names with '_',
                           one ldm-named module, LoCon 3x3 down x 1x1 up, a
                           Tucker lora_mid, text encoder), f16, two keys that
                           match nothing
  lora_peft.safetensors    diffusers / PEFT keys: lora_A / lora_B (with and
                           without .default), .lora.down / .lora.up, attention
                           processor style, base_model.model. prefix; no alpha
  lora_lyco.safetensors    LyCORIS LoHa (plain and Tucker), LoKr (all factor
                           combinations, Tucker t2), full "diff"; bf16
  lora_ref.safetensors     per case: U-Net output with the merged weights
                           (PyTorch U-Net below) and merged tensors of small
                           targets
  cn_parts.safetensors     the ControlNet-only tensors (hint encoder, zero
                           convs, middle_block_out), f16-exact values
  cn_ref.safetensors       hint embedding, residuals and U-Net outputs
  cn_diffusers_keys.json   ldm -> diffusers names for the ControlNet (this
                           script's own table) so the test can write a
                           diffusers-layout copy

The U-Net forward here is written from the ldm openaimodel / cldm structure and
first checked against the shared diffusers outputs (tiny/unet/*), which proves
it before it is used for the new references. Merge formulas follow the kohya /
LyCORIS definitions (delta = up @ down * alpha / rank; LoHa: (w1a@w1b) *
(w2a@w2b); LoKr: kron(w1, w2)), written here from those definitions."""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("SDC_SHARED", os.path.join(ROOT, "..", "..", "..", "..", "shared"))
MODEL = os.path.join(SHARED, "reference/model/sd15-random-tiny.safetensors")
UNET_REF = os.path.join(SHARED, "reference/tiny/unet")

torch.set_grad_enabled(False)

# ---- safetensors --------------------------------------------------------------

DT = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I32": torch.int32, "I64": torch.int64,
      "F64": torch.float64}
DT_NAME = {v: k for k, v in DT.items()}


def st_read(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        raw = bytearray(b[8 + n + s:8 + n + e])
        dt = DT[v["dtype"]]
        t = torch.frombuffer(raw, dtype=torch.uint8) if len(raw) else torch.zeros(0, dtype=torch.uint8)
        out[k] = t.view(dt).reshape(v["shape"]).clone()
    return out


def st_write(path, tensors):
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        t = tensors[k].contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[k] = {"dtype": DT_NAME[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for r in blobs:
            f.write(r)


# ---- ldm U-Net (config of the tiny model: sd15-random-tiny.yaml) -----------------

CFG = dict(model_ch=32, mult=[1, 2, 2], nres=2, attn_ds=[1, 2], heads=8)
UP = "model.diffusion_model."


def tstep_emb(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    a = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(a), torch.sin(a)], dim=-1)


def gn(P, p, x, eps):
    return F.group_norm(x, 32, P[p + ".weight"], P[p + ".bias"], eps)


def conv(P, p, x, stride=1, pad=None):
    w = P[p + ".weight"]
    return F.conv2d(x, w, P[p + ".bias"], stride=stride, padding=w.shape[-1] // 2 if pad is None else pad)


def resblock(P, p, x, emb):
    h = conv(P, p + ".in_layers.2", F.silu(gn(P, p + ".in_layers.0", x, 1e-5)))
    h = h + F.linear(F.silu(emb), P[p + ".emb_layers.1.weight"], P[p + ".emb_layers.1.bias"])[:, :, None, None]
    h = conv(P, p + ".out_layers.3", F.silu(gn(P, p + ".out_layers.0", h, 1e-5)))
    skip = conv(P, p + ".skip_connection", x) if p + ".skip_connection.weight" in P else x
    return skip + h


def attention(P, p, x, ctx, heads):
    q = x @ P[p + ".to_q.weight"].T
    k = ctx @ P[p + ".to_k.weight"].T
    v = ctx @ P[p + ".to_v.weight"].T
    B, T, C = q.shape
    d = C // heads
    q, k, v = (z.reshape(B, -1, heads, d).transpose(1, 2) for z in (q, k, v))
    w = torch.softmax(q @ k.transpose(-1, -2) * d ** -0.5, dim=-1)
    o = (w @ v).transpose(1, 2).reshape(B, T, C)
    return F.linear(o, P[p + ".to_out.0.weight"], P[p + ".to_out.0.bias"])


def ln(P, p, x):
    return F.layer_norm(x, x.shape[-1:], P[p + ".weight"], P[p + ".bias"], 1e-5)


def transformer(P, p, x, ctx):
    B, C, H, W = x.shape
    h = conv(P, p + ".proj_in", gn(P, p + ".norm", x, 1e-6))
    h = h.permute(0, 2, 3, 1).reshape(B, H * W, C)
    b = p + ".transformer_blocks.0"
    h = attention(P, b + ".attn1", ln(P, b + ".norm1", h), ln(P, b + ".norm1", h), CFG["heads"]) + h
    h = attention(P, b + ".attn2", ln(P, b + ".norm2", h), ctx, CFG["heads"]) + h
    f = F.linear(ln(P, b + ".norm3", h), P[b + ".ff.net.0.proj.weight"], P[b + ".ff.net.0.proj.bias"])
    a, g = f.chunk(2, dim=-1)
    h = F.linear(a * F.gelu(g), P[b + ".ff.net.2.weight"], P[b + ".ff.net.2.bias"]) + h
    h = h.reshape(B, H, W, C).permute(0, 3, 1, 2)
    return conv(P, p + ".proj_out", h) + x


def layout():
    """Input / output block contents from the config: lists of layer kinds."""
    inp, out = [["conv"]], []
    ds = 1
    n = len(CFG["mult"])
    for lvl in range(n):
        for _ in range(CFG["nres"]):
            inp.append(["res"] + (["attn"] if ds in CFG["attn_ds"] else []))
        if lvl != n - 1:
            inp.append(["down"])
            ds *= 2
    for lvl in reversed(range(n)):
        for j in range(CFG["nres"] + 1):
            blk = ["res"] + (["attn"] if ds in CFG["attn_ds"] else [])
            if lvl and j == CFG["nres"]:
                blk.append("up")
                ds //= 2
            out.append(blk)
    return inp, out


def run_block(P, p, kinds, h, emb, ctx, up_to=None):
    for i, k in enumerate(kinds):
        q = "%s.%d" % (p, i)
        if k == "conv":
            h = conv(P, q, h)
        elif k == "res":
            h = resblock(P, q, h, emb)
        elif k == "attn":
            h = transformer(P, q, h, ctx)
        elif k == "down":
            h = conv(P, q + ".op", h, stride=2, pad=1)
        elif k == "up":
            h = conv(P, q + ".conv", F.interpolate(h, size=up_to, mode="nearest"))
    return h


def time_emb(P, t):
    e = tstep_emb(t, CFG["model_ch"])
    e = F.linear(F.silu(F.linear(e, P["time_embed.0.weight"], P["time_embed.0.bias"])),
                 P["time_embed.2.weight"], P["time_embed.2.bias"])
    return e


def encoder(P, x, t, ctx, hint=None):
    """Input blocks + middle block; hint (guided hint) added after block 0."""
    inp, _ = layout()
    emb = time_emb(P, t)
    hs, h = [], x
    for i, kinds in enumerate(inp):
        h = run_block(P, "input_blocks.%d" % i, kinds, h, emb, ctx)
        if i == 0 and hint is not None:
            h = h + hint
        hs.append(h)
    mid = run_block(P, "middle_block", ["res", "attn", "res"], h, emb, ctx)
    return hs, mid, emb


def unet(P, x, t, ctx, control=None):
    """ldm ControlledUnetModel: control = (skips list, mid) already scaled;
    residuals join the skips at concatenation and the middle output."""
    _, out = layout()
    hs, h, emb = encoder(P, x, t, ctx)
    if control is not None:
        h = h + control[1]
        hs = [a + b for a, b in zip(hs, control[0])]
    for i, kinds in enumerate(out):
        h = torch.cat([h, hs.pop()], dim=1)
        up_to = hs[-1].shape[-2:] if hs else None
        h = run_block(P, "output_blocks.%d" % i, kinds, h, emb, ctx, up_to)
    h = F.silu(gn(P, "out.0", h, 1e-5))
    return conv(P, "out.2", h)


def sub(sd, prefix):
    return {k[len(prefix):]: v.float() for k, v in sd.items() if k.startswith(prefix)}


def check_unet(P):
    worst = 0.0
    for case in ("b1_t999_8x8", "b2cfg_t500_8x8", "b2cfg_t1_16x16"):
        r = st_read(os.path.join(UNET_REF, case + ".safetensors"))
        y = unet(P, r["sample"], r["timestep"], r["encoder_hidden_states"])
        d = (y - r["out"]).abs().max().item() / r["out"].abs().max().item()
        worst = max(worst, d)
    print("PyTorch U-Net vs shared diffusers reference: max diff / scale %.3g" % worst)
    assert worst < 1e-5, "the PyTorch U-Net here does not match the shared reference"


# ---- LoRA merge formulas --------------------------------------------------------


def f32(t):
    return t.float()


def delta_lora(m, shape):
    down, up = f32(m["down"]), f32(m["up"])
    r = down.shape[0]
    scale = float(m["alpha"]) / r if "alpha" in m else 1.0
    if "mid" in m:  # Tucker: up [o, r], mid [r, r, kh, kw], down [r, i]
        d = torch.einsum("m n k l, i m, n j -> i j k l", f32(m["mid"]), up.reshape(up.shape[0], -1),
                         down.reshape(r, -1))
    else:
        d = up.reshape(up.shape[0], -1) @ down.reshape(r, -1)
    return d.reshape(shape) * scale


def delta_loha(m, shape):
    w1a, w1b, w2a, w2b = (f32(m[k]) for k in ("w1a", "w1b", "w2a", "w2b"))
    r = w1b.shape[0]
    scale = float(m["alpha"]) / r if "alpha" in m else 1.0
    if "t1" in m:  # t [r, r, kh, kw], wa [r, out], wb [r, in]
        a = torch.einsum("i j k l, j r, i p -> p r k l", f32(m["t1"]), w1b, w1a)
        b = torch.einsum("i j k l, j r, i p -> p r k l", f32(m["t2"]), w2b, w2a)
        d = a * b
    else:
        d = (w1a @ w1b.reshape(r, -1)) * (w2a @ w2b.reshape(w2b.shape[0], -1))
    return d.reshape(shape) * scale


def delta_lokr(m, shape):
    dim = None
    if "w1" in m:
        w1 = f32(m["w1"])
    else:
        w1 = f32(m["w1a"]) @ f32(m["w1b"])
        dim = m["w1b"].shape[0]
    if "w2" in m:
        w2 = f32(m["w2"])
    else:
        dim = m["w2b"].shape[0]
        if "t2" in m:
            w2 = torch.einsum("i j k l, j r, i p -> p r k l", f32(m["t2"]), f32(m["w2b"]), f32(m["w2a"]))
        else:
            w2b = f32(m["w2b"])
            w2 = f32(m["w2a"]) @ w2b.reshape(w2b.shape[0], -1)
            if len(shape) == 4:
                w2 = w2.reshape(w2.shape[0], -1, shape[2], shape[3])
    if w2.dim() == 4:
        w1 = w1[:, :, None, None]
    scale = float(m["alpha"]) / dim if ("alpha" in m and dim is not None) else 1.0
    return torch.kron(w1.contiguous(), w2.contiguous()).reshape(shape) * scale


def delta_of(m, shape):
    kind = m["kind"]
    if kind == "lora":
        return delta_lora(m, shape)
    if kind == "loha":
        return delta_loha(m, shape)
    if kind == "lokr":
        return delta_lokr(m, shape)
    if kind == "diff":
        return f32(m["diff"]).reshape(shape)
    raise ValueError(kind)


# ---- the LoRAs -------------------------------------------------------------------

TE = "cond_stage_model.transformer.text_model."
g = torch.Generator().manual_seed(1234)


def rnd(*shape, s=0.2):
    return torch.randn(*shape, generator=g) * s


def lora_mod(W, r, alpha=None, conv3_down=False, mid=False):
    o = W.shape[0]
    i = W.shape[1]
    m = {"kind": "lora"}
    if W.dim() == 4 and mid:
        m["down"] = rnd(r, i, 1, 1)
        m["mid"] = rnd(r, r, W.shape[2], W.shape[3])
        m["up"] = rnd(o, r, 1, 1)
    elif W.dim() == 4:
        kh = W.shape[2] if conv3_down else 1
        m["down"] = rnd(r, i, kh, kh)
        m["up"] = rnd(o, r, 1, 1)
    else:
        m["down"] = rnd(r, i)
        m["up"] = rnd(o, r)
    if alpha is not None:
        m["alpha"] = torch.tensor(float(alpha))
    return m


# Hand-written names: (LoRA module name, canonical weight name without ".weight").
# Tiny U-Net: input_blocks 1,2 = down_blocks.0 res/attn, 3 = its downsampler,
# 4,5 = down_blocks.1, 6 = downsampler, 7,8 = down_blocks.2 (no attention);
# output_blocks 0-2 = up_blocks.0 (no attention, upsampler at .1), 3-5 =
# up_blocks.1 (upsampler at 5.2), 6-8 = up_blocks.2.
KOHYA = [
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", UP + "input_blocks.1.1.transformer_blocks.0.attn1.to_q", dict(r=4, alpha=2)),
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_k", UP + "input_blocks.1.1.transformer_blocks.0.attn1.to_k", dict(r=4, alpha=4)),
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_v", UP + "input_blocks.1.1.transformer_blocks.0.attn1.to_v", dict(r=4)),
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0", UP + "input_blocks.1.1.transformer_blocks.0.attn1.to_out.0", dict(r=2, alpha=1)),
    ("lora_unet_down_blocks_1_attentions_1_transformer_blocks_0_attn2_to_k", UP + "input_blocks.5.1.transformer_blocks.0.attn2.to_k", dict(r=4, alpha=8)),
    ("lora_unet_mid_block_attentions_0_proj_in", UP + "middle_block.1.proj_in", dict(r=4, alpha=2)),
    ("lora_unet_up_blocks_1_attentions_2_transformer_blocks_0_ff_net_0_proj", UP + "output_blocks.5.1.transformer_blocks.0.ff.net.0.proj", dict(r=4, alpha=2)),
    ("lora_unet_down_blocks_1_resnets_0_conv1", UP + "input_blocks.4.0.in_layers.2", dict(r=4, alpha=2, conv3_down=True)),
    ("lora_unet_down_blocks_1_resnets_0_conv_shortcut", UP + "input_blocks.4.0.skip_connection", dict(r=4, alpha=3)),
    ("lora_unet_mid_block_resnets_1_time_emb_proj", UP + "middle_block.2.emb_layers.1", dict(r=4, alpha=2)),
    ("lora_unet_down_blocks_0_downsamplers_0_conv", UP + "input_blocks.3.0.op", dict(r=4, alpha=2, conv3_down=True)),
    ("lora_unet_up_blocks_0_upsamplers_0_conv", UP + "output_blocks.2.1.conv", dict(r=4, alpha=2, conv3_down=True)),
    ("lora_unet_up_blocks_1_upsamplers_0_conv", UP + "output_blocks.5.2.conv", dict(r=4, alpha=1, conv3_down=True)),
    ("lora_unet_input_blocks_1_1_proj_out", UP + "input_blocks.1.1.proj_out", dict(r=4, alpha=2)),
    ("lora_unet_time_embedding_linear_1", UP + "time_embed.0", dict(r=4, alpha=2)),
    ("lora_unet_conv_out", UP + "out.2", dict(r=4, alpha=2, conv3_down=True)),
    ("lora_unet_up_blocks_0_resnets_1_conv2", UP + "output_blocks.1.0.out_layers.3", dict(r=4, alpha=2, mid=True)),
    ("lora_te_text_model_encoder_layers_0_self_attn_q_proj", TE + "encoder.layers.0.self_attn.q_proj", dict(r=4, alpha=2)),
    ("lora_te_text_model_encoder_layers_0_self_attn_k_proj", TE + "encoder.layers.0.self_attn.k_proj", dict(r=4, alpha=2)),
    ("lora_te_text_model_encoder_layers_0_self_attn_v_proj", TE + "encoder.layers.0.self_attn.v_proj", dict(r=4, alpha=2)),
    ("lora_te_text_model_encoder_layers_0_self_attn_out_proj", TE + "encoder.layers.0.self_attn.out_proj", dict(r=4, alpha=2)),
    ("lora_te_text_model_encoder_layers_1_mlp_fc1", TE + "encoder.layers.1.mlp.fc1", dict(r=4, alpha=2)),
    ("lora_te_text_model_encoder_layers_1_mlp_fc2", TE + "encoder.layers.1.mlp.fc2", dict(r=4, alpha=2)),
]
KOHYA_UNMATCHED = ["lora_unet_down_blocks_5_attentions_0_proj_in", "lora_te_text_model_encoder_layers_40_mlp_fc1"]

# (module name, suffix pair style, canonical name)
PEFT = [
    ("unet.down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_q", "AB", UP + "input_blocks.2.1.transformer_blocks.0.attn2.to_q"),
    ("unet.up_blocks.2.attentions.1.transformer_blocks.0.attn1.to_out.0", "lora.du", UP + "output_blocks.7.1.transformer_blocks.0.attn1.to_out.0"),
    ("unet.mid_block.attentions.0.transformer_blocks.0.attn1.processor.to_k_lora", "du", UP + "middle_block.1.transformer_blocks.0.attn1.to_k"),
    ("unet.mid_block.attentions.0.transformer_blocks.0.attn1.processor.to_out_lora", "du", UP + "middle_block.1.transformer_blocks.0.attn1.to_out.0"),
    ("unet.down_blocks.0.resnets.1.conv2", "AB.default", UP + "input_blocks.2.0.out_layers.3"),
    ("unet.up_blocks.1.resnets.2.conv_shortcut", "AB", UP + "output_blocks.5.0.skip_connection"),
    ("base_model.model.up_blocks.2.attentions.2.proj_in", "AB", UP + "output_blocks.8.1.proj_in"),
    ("text_encoder.text_model.encoder.layers.1.self_attn.v_proj", "AB", TE + "encoder.layers.1.self_attn.v_proj"),
    ("text_encoder.text_model.encoder.layers.0.mlp.fc2", "AB.default", TE + "encoder.layers.0.mlp.fc2"),
]
PEFT_UNMATCHED = ["unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_qq"]

LYCO = [
    ("lora_unet_down_blocks_0_attentions_1_transformer_blocks_0_attn1_to_v", UP + "input_blocks.2.1.transformer_blocks.0.attn1.to_v", "loha"),
    ("lora_unet_down_blocks_2_resnets_0_conv1", UP + "input_blocks.7.0.in_layers.2", "loha_tucker"),
    ("lora_unet_up_blocks_2_resnets_2_conv1", UP + "output_blocks.8.0.in_layers.2", "loha"),
    ("lora_unet_mid_block_attentions_0_proj_in", UP + "middle_block.1.proj_in", "loha"),
    ("lora_unet_up_blocks_1_attentions_0_transformer_blocks_0_ff_net_2", UP + "output_blocks.3.1.transformer_blocks.0.ff.net.2", "lokr_w1_w2ab"),
    ("lora_te_text_model_encoder_layers_1_self_attn_k_proj", TE + "encoder.layers.1.self_attn.k_proj", "lokr_full"),
    ("lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_v", UP + "middle_block.1.transformer_blocks.0.attn2.to_v", "lokr_w1ab_w2"),
    ("lora_unet_mid_block_resnets_0_conv2", UP + "middle_block.0.out_layers.3", "lokr_tucker"),
    ("lora_unet_down_blocks_2_resnets_1_conv2", UP + "input_blocks.8.0.out_layers.3", "lokr_conv"),
    ("lora_unet_down_blocks_2_resnets_1_time_emb_proj", UP + "input_blocks.8.0.emb_layers.1", "diff"),
]


def lyco_mod(W, style):
    o, i = W.shape[0], W.shape[1]
    k = list(W.shape[2:])
    if style == "loha":
        r = 4
        return {"kind": "loha", "w1a": rnd(o, r), "w1b": rnd(r, i * (k[0] * k[1] if k else 1)), "w2a": rnd(o, r),
                "w2b": rnd(r, i * (k[0] * k[1] if k else 1)), "alpha": torch.tensor(2.0)}
    if style == "loha_tucker":
        r = 4
        return {"kind": "loha", "t1": rnd(r, r, *k), "w1a": rnd(r, o), "w1b": rnd(r, i), "t2": rnd(r, r, *k),
                "w2a": rnd(r, o), "w2b": rnd(r, i), "alpha": torch.tensor(4.0)}
    if style == "lokr_w1_w2ab":  # [64, 256] = kron([8, 16], [8, 16])
        return {"kind": "lokr", "w1": rnd(8, 16), "w2a": rnd(8, 2), "w2b": rnd(2, 16), "alpha": torch.tensor(1.0)}
    if style == "lokr_full":  # [32, 32] = kron([4, 4], [8, 8]); alpha ignored
        return {"kind": "lokr", "w1": rnd(4, 4), "w2": rnd(8, 8), "alpha": torch.tensor(3.0)}
    if style == "lokr_w1ab_w2":  # [64, 32] = kron([8, 4], [8, 8])
        return {"kind": "lokr", "w1a": rnd(8, 2), "w1b": rnd(2, 4), "w2": rnd(8, 8), "alpha": torch.tensor(1.0)}
    if style == "lokr_tucker":  # [64, 64, 3, 3] = kron([4, 4], [16, 16, 3, 3])
        return {"kind": "lokr", "w1": rnd(4, 4), "t2": rnd(2, 2, 3, 3), "w2a": rnd(2, 16), "w2b": rnd(2, 16),
                "alpha": torch.tensor(2.0)}
    if style == "lokr_conv":  # w2 = w2a [16, 2] @ w2b [2, 16, 3, 3]
        return {"kind": "lokr", "w1": rnd(4, 4), "w2a": rnd(16, 2), "w2b": rnd(2, 16, 3, 3), "alpha": torch.tensor(1.0)}
    if style == "diff":
        return {"kind": "diff", "diff": rnd(*W.shape, s=0.05)}
    raise ValueError(style)


LYCO_KEYS = {"w1a": "hada_w1_a", "w1b": "hada_w1_b", "w2a": "hada_w2_a", "w2b": "hada_w2_b", "t1": "hada_t1",
             "t2": "hada_t2", "alpha": "alpha", "diff": "diff"}
LOKR_KEYS = {"w1": "lokr_w1", "w2": "lokr_w2", "w1a": "lokr_w1_a", "w1b": "lokr_w1_b", "w2a": "lokr_w2_a",
             "w2b": "lokr_w2_b", "t2": "lokr_t2", "alpha": "alpha"}


def rounded(m, dtype):
    """Module tensors as stored (rounded to the file's dtype); alpha stays f32."""
    return {k: (v if k in ("kind", "alpha") else v.to(dtype)) for k, v in m.items()}


def make_loras(sd):
    cases = {}
    # kohya, f16
    mods, tensors = [], {}
    for name, canon, o in KOHYA:
        W = sd[canon + ".weight"]
        m = rounded(lora_mod(W, o["r"], o.get("alpha"), o.get("conv3_down", False), o.get("mid", False)), torch.float16)
        tensors[name + ".lora_down.weight"] = m["down"]
        tensors[name + ".lora_up.weight"] = m["up"]
        if "mid" in m:
            tensors[name + ".lora_mid.weight"] = m["mid"]
        if "alpha" in m:
            tensors[name + ".alpha"] = m["alpha"]
        mods.append((canon, m))
    for name in KOHYA_UNMATCHED:
        tensors[name + ".lora_down.weight"] = rnd(4, 32).half()
        tensors[name + ".lora_up.weight"] = rnd(32, 4).half()
        tensors[name + ".alpha"] = torch.tensor(4.0)
    st_write(os.path.join(ROOT, "lora_kohya.safetensors"), tensors)
    cases["kohya"] = mods
    # PEFT / diffusers, f32, no alpha
    mods, tensors = [], {}
    for name, style, canon in PEFT:
        W = sd[canon + ".weight"]
        m = lora_mod(W, 4, None, conv3_down=W.dim() == 4 and W.shape[2] == 3)
        a, b = {"AB": (".lora_A.weight", ".lora_B.weight"), "AB.default": (".lora_A.default.weight", ".lora_B.default.weight"),
                "lora.du": (".lora.down.weight", ".lora.up.weight"), "du": (".down.weight", ".up.weight")}[style]
        tensors[name + a] = m["down"]
        tensors[name + b] = m["up"]
        mods.append((canon, m))
    for name in PEFT_UNMATCHED:
        tensors[name + ".lora_A.weight"] = rnd(4, 32)
        tensors[name + ".lora_B.weight"] = rnd(32, 4)
    st_write(os.path.join(ROOT, "lora_peft.safetensors"), tensors)
    cases["peft"] = mods
    # LyCORIS, bf16
    mods, tensors = [], {}
    for name, canon, style in LYCO:
        W = sd[canon + ".weight"]
        m = rounded(lyco_mod(W, style), torch.bfloat16)
        keys = LOKR_KEYS if m["kind"] == "lokr" else LYCO_KEYS
        for k, v in m.items():
            if k != "kind":
                tensors[name + "." + keys[k]] = v
        mods.append((canon, m))
    st_write(os.path.join(ROOT, "lora_lyco.safetensors"), tensors)
    cases["lyco"] = mods
    return cases


def merged(sd, loras):
    """loras: list of (mods, unet_strength, te_strength)."""
    out = {k: v.float().clone() for k, v in sd.items()}
    for mods, su, st in loras:
        for canon, m in mods:
            W = out[canon + ".weight"]
            s = st if canon.startswith("cond_stage_model.") else su
            out[canon + ".weight"] = W + s * delta_of(m, W.shape)
    return out


# ---- ControlNet -------------------------------------------------------------------

HINT_CH = [(3, 8), (8, 8), (8, 16), (16, 16), (16, 16), (16, 16), (16, 32), (32, 32)]  # ldm indices 0, 2, ..., 14
HINT_STRIDE = [1, 1, 2, 1, 2, 1, 2, 1]
SKIP_CH = [32, 32, 32, 32, 64, 64, 64, 64, 64]


def f16_exact(*shape, s):
    return rnd(*shape, s=s).half().float()


def cn_parts():
    p = {}
    for j, (ci, co) in enumerate(HINT_CH):
        p["input_hint_block.%d.weight" % (2 * j)] = f16_exact(co, ci, 3, 3, s=0.3)
        p["input_hint_block.%d.bias" % (2 * j)] = f16_exact(co, s=0.1)
    for i, c in enumerate(SKIP_CH):
        p["zero_convs.%d.0.weight" % i] = f16_exact(c, c, 1, 1, s=0.02)
        p["zero_convs.%d.0.bias" % i] = f16_exact(c, s=0.1)
    p["middle_block_out.0.weight"] = f16_exact(64, 64, 1, 1, s=0.02)
    p["middle_block_out.0.bias"] = f16_exact(64, s=0.1)
    return p


def cn_weights(unet_sd, parts, trunk_scale, part_scale):
    """A ControlNet (bare ldm names): the U-Net's encoder scaled by
    trunk_scale (exact in f32 for 0.75 / 0.5) plus its own tensors."""
    P = {k: v * trunk_scale for k, v in unet_sd.items()
         if k.startswith(("time_embed.", "input_blocks.", "middle_block."))}
    for k, v in parts.items():
        P[k] = v * part_scale
    return P


def hint_image():
    y, x, c = torch.meshgrid(torch.arange(64), torch.arange(64), torch.arange(3), indexing="ij")
    img = ((y * 7 + x * 13 + c * 5) % 17).float() / 16.0  # [H, W, 3], exact in f32
    return img.permute(2, 0, 1)[None]  # [1, 3, 64, 64]


def hint_encode(P, img):
    h = img
    for j in range(len(HINT_CH)):
        h = conv(P, "input_hint_block.%d" % (2 * j), h, stride=HINT_STRIDE[j], pad=1)
        if j != len(HINT_CH) - 1:
            h = F.silu(h)
    return h


def controlnet(P, x, t, ctx, img, strength):
    g_hint = hint_encode(P, img)
    hs, mid, _ = encoder(P, x, t, ctx, hint=g_hint.expand(x.shape[0], -1, -1, -1))
    skips = [conv(P, "zero_convs.%d.0" % i, h) * strength for i, h in enumerate(hs)]
    return g_hint, skips, conv(P, "middle_block_out.0", mid) * strength


def diffusers_cn_keys(names):
    """ldm ControlNet names -> diffusers ControlNetModel names (this script's
    own table for the tiny config: 2 ResBlocks per level, 3 levels)."""
    res = {"in_layers.0": "norm1", "in_layers.2": "conv1", "emb_layers.1": "time_emb_proj", "out_layers.0": "norm2",
           "out_layers.3": "conv2", "skip_connection": "conv_shortcut"}
    hint = {0: "conv_in", 14: "conv_out"}
    for j in range(1, 7):
        hint[2 * j] = "blocks.%d" % (j - 1)
    out = {}
    for n in names:
        parts = n.split(".")
        if parts[0] == "time_embed":
            d = "time_embedding.linear_%d.%s" % ({"0": 1, "2": 2}[parts[1]], parts[2])
        elif parts[0] == "input_hint_block":
            d = "controlnet_cond_embedding.%s.%s" % (hint[int(parts[1])], parts[2])
        elif parts[0] == "zero_convs":
            d = "controlnet_down_blocks.%s.%s" % (parts[1], parts[3])
        elif parts[0] == "middle_block_out":
            d = "controlnet_mid_block.%s" % parts[2]
        elif parts[0] == "input_blocks" and parts[1] == "0":
            d = "conv_in." + parts[3]
        else:
            if parts[0] == "input_blocks":
                b = int(parts[1]) - 1
                lvl, j = b // 3, b % 3
                if j == 2:
                    base, rest = "down_blocks.%d.downsamplers.0.conv" % lvl, parts[4:]
                elif parts[2] == "0":
                    base, rest = "down_blocks.%d.resnets.%d" % (lvl, j), parts[3:]
                else:
                    base, rest = "down_blocks.%d.attentions.%d" % (lvl, j), parts[3:]
            else:  # middle_block
                base = {"0": "mid_block.resnets.0", "1": "mid_block.attentions.0", "2": "mid_block.resnets.1"}[parts[1]]
                rest = parts[2:]
            tail = ".".join(rest)
            if "resnets" in base:
                for a, b2 in res.items():
                    if tail.startswith(a + "."):
                        tail = b2 + tail[len(a):]
            d = base + "." + tail
        out[n] = d
    assert len(set(out.values())) == len(out)
    return out


# ---- main -------------------------------------------------------------------------


def main():
    sd = {k: v.float() for k, v in st_read(MODEL).items()}
    U = sub(sd, UP)
    check_unet(U)
    case = st_read(os.path.join(UNET_REF, "b1_t999_8x8.safetensors"))
    x, t, ctx = case["sample"], case["timestep"], case["encoder_hidden_states"]

    cases = make_loras(sd)
    ref = {}
    runs = {"kohya": [(cases["kohya"], 0.8, 0.5)], "peft": [(cases["peft"], 1.0, 1.0)],
            "lyco": [(cases["lyco"], 0.6, 1.2)], "combo": [(cases["kohya"], 0.8, 0.5), (cases["lyco"], 0.6, 1.2)]}
    for name, loras in runs.items():
        M = merged(sd, loras)
        ref[name + ".unet_out"] = unet(sub(M, UP), x, t, ctx)
        if name == "combo":
            continue
        for mods, _, _ in loras:  # merged tensors: the small ones and one 3x3 LoCon
            for canon, _ in mods:
                w = M[canon + ".weight"]
                if w.numel() <= 2048 or canon.endswith("input_blocks.3.0.op"):
                    ref[name + ".w." + canon + ".weight"] = w
    st_write(os.path.join(ROOT, "lora_ref.safetensors"), ref)

    parts = cn_parts()
    st_write(os.path.join(ROOT, "cn_parts.safetensors"), {k: v.half() for k, v in parts.items()})
    cfg = st_read(os.path.join(UNET_REF, "b2cfg_t500_8x8.safetensors"))
    x2, t2, c2 = cfg["sample"], cfg["timestep"], cfg["encoder_hidden_states"]
    img = hint_image()
    cn1 = cn_weights(U, parts, 0.75, 1.0)
    cn2 = cn_weights(U, parts, 0.5, -0.5)
    g1, s1, m1 = controlnet(cn1, x2, t2, c2, img, 0.7)
    _, s2, m2 = controlnet(cn2, x2, t2, c2, img, 1.3)
    out = {"hint_emb": g1, "cn1.mid": m1, "unet_out_cn1": unet(U, x2, t2, c2, (s1, m1)),
           "unet_out_cn12": unet(U, x2, t2, c2, ([a + b for a, b in zip(s1, s2)], m1 + m2)),
           "unet_out_none": unet(U, x2, t2, c2)}
    for i in (0, 3, 8):  # a few residuals for stage-by-stage checks; all of them act on unet_out_*
        out["cn1.skip.%d" % i] = s1[i]
    d = (out["unet_out_none"] - cfg["out"]).abs().max().item()
    print("U-Net without control vs shared reference: max abs diff %.3g" % d)
    st_write(os.path.join(ROOT, "cn_ref.safetensors"), {k: v.contiguous() for k, v in out.items()})
    names = sorted(cn1.keys())
    with open(os.path.join(ROOT, "cn_diffusers_keys.json"), "w") as f:
        json.dump(diffusers_cn_keys(names), f, indent=0, sort_keys=True)
    print("control residual scale %.3g, effect on U-Net output %.3g" %
          (max(s.abs().max().item() for s in s1), (out["unet_out_cn1"] - out["unet_out_none"]).abs().max().item()))
    total = sum(os.path.getsize(os.path.join(ROOT, f)) for f in os.listdir(ROOT))
    print("tests/data/control: %d bytes" % total)


if __name__ == "__main__":
    sys.exit(main())
