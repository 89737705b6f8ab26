#!/usr/bin/python3
"""Reference tensors for sdc's TAESD (tiny autoencoder) tests.

Written for sdc from the published description of TAESD (madebyollin/taesd
model definition, read for the architecture only) and diffusers'
AutoencoderTiny (its scaling conventions). Weights are random (seeded) and
narrow (6 channels instead of 64) so the files stay small; every weight is
rounded to float16 so the f16 files hold them exactly and an f32 engine sees
the same values.

Writes into this script's folder:
  taesd_decoder.safetensors, taesd_encoder.safetensors  TAESD's own layout
      (nn.Sequential indices: "1.weight", "3.conv.0.weight", ...), f16
  taesd_decoder.pth     the same decoder state dict saved by torch.save (zip)
  diffusers/diffusion_pytorch_model.safetensors  diffusers AutoencoderTiny
      layout ("decoder.layers.N...", "encoder.layers.N..."), f16
  variant_decoder.safetensors  a small decoder with the FLUX.2-style mid-block
      GroupNorm pool, a 1x1 skip conv and only one upsampling (TAESD layout)
  ref_decode_6x8.safetensors, ref_decode_5x7.safetensors: "latent" [1,4,h,w]
      (a scaled SD latent, as a pipeline holds it) and "image" [1,3,8h,8w]
      = decoder(latent) * 2 - 1 (diffusers' [-1, 1] convention); the 5x7 file
      also holds NCHW stage outputs "dec.N" (output of Sequential index N)
  ref_encode_48x64.safetensors: "image" [1,3,48,64] in [-1, 1] and "latent"
      [1,4,6,8] = encoder((image + 1) / 2)
  ref_variant_4x4.safetensors: "latent" [1,4,4,4], "image" [1,3,8,8] for the
      variant decoder (same conventions)

Run: /usr/bin/python3 tests/data/taesd/gen_taesd_ref.py  (torch 1.13, CPU).
"""
import json
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
C = 6  # channels (TAESD uses 64)


class Tanh3(nn.Module):  # "Clamp": soft clamp of latents to (-3, 3)
    def forward(self, x):
        return 3.0 * torch.tanh(x / 3.0)


def make_pool(n):
    """Mid-block GroupNorm branch: 1x1 (no bias) -> GN(4) -> ReLU -> 1x1 (no
    bias); a Sequential, so its keys are pool.0 / pool.1 / pool.3."""
    g = 4 * n
    return nn.Sequential(nn.Conv2d(n, g, 1, bias=False), nn.GroupNorm(4, g), nn.ReLU(), nn.Conv2d(g, n, 1, bias=False))


class Res(nn.Module):
    def __init__(self, cin, cout, gn=False):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else nn.Identity()
        self.pool = make_pool(cin) if gn else None

    def forward(self, x):
        if self.pool is not None:
            x = x + self.pool(x)
        return F.relu(self.conv(x) + self.skip(x))


def c3(i, o, bias=True, stride=1):
    return nn.Conv2d(i, o, 3, padding=1, bias=bias, stride=stride)


def up():
    return nn.Upsample(scale_factor=2, mode="nearest")


def decoder():
    m = [Tanh3(), c3(4, C), nn.ReLU()]
    for _ in range(3):
        m += [Res(C, C), Res(C, C), Res(C, C), up(), c3(C, C, bias=False)]
    m += [Res(C, C), c3(C, 3)]
    return nn.Sequential(*m)


def encoder():
    m = [c3(3, C), Res(C, C)]
    for _ in range(3):
        m += [c3(C, C, bias=False, stride=2), Res(C, C), Res(C, C), Res(C, C)]
    m += [c3(C, 4)]
    return nn.Sequential(*m)


def variant_decoder():
    return nn.Sequential(Tanh3(), c3(4, C), nn.ReLU(), Res(C, C, gn=True), up(), c3(C, C, bias=False),
                         Res(C, 4), c3(4, 3))


def randomize(model, gen):
    """He-like normal weights (scaled down for the residual stacks), small
    biases, GN affine near (1, 0); all rounded to f16-representable values."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 4:
                fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                v = torch.randn(p.shape, generator=gen) * (2.0 / fan_in) ** 0.5 * 0.6
            elif name.endswith("pool.1.weight"):
                v = 1.0 + 0.2 * torch.randn(p.shape, generator=gen)
            else:
                v = 0.1 * torch.randn(p.shape, generator=gen)
            p.copy_(v.half().float())


DT = {torch.float32: "F32", torch.float16: "F16"}


def save_st(path, tensors):
    header, blobs, off = {}, [], 0
    for k, t in tensors.items():
        b = t.contiguous().numpy().tobytes()
        header[k] = {"dtype": DT[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def half_sd(model, prefix="", shift=0):
    out = {}
    for k, v in model.state_dict().items():
        idx, rest = k.split(".", 1)
        out[prefix + str(int(idx) + shift) + "." + rest] = v.half()
    return out


def stage_outputs(model, x):
    outs = {}
    for i, m in enumerate(model):
        x = m(x)
        outs[i] = x
    return x, outs


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    dec, enc, var = decoder(), encoder(), variant_decoder()
    for m in (dec, enc, var):
        randomize(m, gen)
        m.eval()

    save_st(os.path.join(HERE, "taesd_decoder.safetensors"), half_sd(dec))
    save_st(os.path.join(HERE, "taesd_encoder.safetensors"), half_sd(enc))
    save_st(os.path.join(HERE, "variant_decoder.safetensors"), half_sd(var))
    torch.save({k: v.half() for k, v in dec.state_dict().items()}, os.path.join(HERE, "taesd_decoder.pth"))
    # diffusers: the decoder's Sequential has no Clamp module, so its indices are one lower
    dd = half_sd(dec, "decoder.layers.", -1)
    dd.update(half_sd(enc, "encoder.layers."))
    save_st(os.path.join(HERE, "diffusers", "diffusion_pytorch_model.safetensors"), dd)

    with torch.no_grad():
        for h, w in ((6, 8), (5, 7)):
            z = torch.randn(1, 4, h, w, generator=gen) * 2.0  # beyond +-3 here and there: exercises the tanh clamp
            y, st = stage_outputs(dec, z)
            out = {"latent": z, "image": y * 2 - 1}
            if (h, w) == (5, 7):
                for i in (1, 5, 7):
                    out["dec.%d" % i] = st[i]
            save_st(os.path.join(HERE, "ref_decode_%dx%d.safetensors" % (h, w)), out)
            print("decode %dx%d: image range [%.3f, %.3f]" % (h, w, out["image"].min(), out["image"].max()))
        img = torch.rand(1, 3, 48, 64, generator=gen) * 2 - 1
        lat = enc((img + 1) / 2)
        save_st(os.path.join(HERE, "ref_encode_48x64.safetensors"), {"image": img, "latent": lat})
        print("encode: latent range [%.3f, %.3f]" % (lat.min(), lat.max()))
        z = torch.randn(1, 4, 4, 4, generator=gen) * 2.0
        y = var(z) * 2 - 1
        save_st(os.path.join(HERE, "ref_variant_4x4.safetensors"), {"latent": z, "image": y})
        print("variant: image range [%.3f, %.3f]" % (y.min(), y.max()))


if __name__ == "__main__":
    main()
