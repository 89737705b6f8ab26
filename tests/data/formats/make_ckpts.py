#!/usr/bin/python3
"""Writes the small PyTorch checkpoints the formats tests read.

Run with Debian's python3-torch (1.13):  /usr/bin/python3 make_ckpts.py
Every tensor's values are a deterministic function of its name (see
value()), so the C tests recompute the expected numbers independently
instead of trusting a stored copy. Files written:

  plain.ckpt      OrderedDict state dict: f32/f16/bf16/f64/i64/i32/i16/i8/u8/bool,
                  a 0-d scalar, an empty tensor, a transposed (non-contiguous)
                  view, two views into one shared storage at offsets, a Parameter
  lightning.ckpt  {"state_dict": {...}, "global_step", "epoch", numpy scalar,
                  "callbacks": {...}}, as PyTorch Lightning writes
  deflate.ckpt    plain.ckpt re-zipped with deflate compression
  zip64.ckpt      plain.ckpt re-zipped with ZIP64 records (sizes/offsets in the
                  zip64 extra field, zip64 end-of-central-directory)
  embedding.pt    an A1111 textual-inversion embedding (string_to_param)
  evil.ckpt       a pickle that would call os.system: must be refused
  evil_global.ckpt a pickle importing builtins.eval via STACK_GLOBAL
"""
import collections, io, os, struct, zipfile, zlib
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def value(name, i):
    """Element i of tensor `name`: small integers and halves, exact in every dtype."""
    h = sum(ord(c) for c in name) % 7
    return float(((i * 5 + h) % 11) - 5) * 0.5


def make(name, shape, dtype):
    n = int(np.prod(shape)) if len(shape) else 1
    vals = [value(name, i) for i in range(n)]
    if dtype == torch.bool:
        return torch.tensor([v > 0 for v in vals], dtype=torch.bool).reshape(shape)
    if not dtype.is_floating_point:
        vals = [int(v * 2) for v in vals]
    return torch.tensor(vals, dtype=dtype).reshape(shape)


def state_dict():
    sd = collections.OrderedDict()
    for name, shape, dt in [
        ("a.f32", (2, 3), torch.float32), ("a.f16", (4,), torch.float16), ("a.bf16", (3, 2), torch.bfloat16),
        ("a.f64", (2,), torch.float64), ("a.i64", (5,), torch.int64), ("a.i32", (3,), torch.int32),
        ("a.i16", (2,), torch.int16), ("a.i8", (2,), torch.int8), ("a.u8", (3,), torch.uint8),
        ("a.bool", (4,), torch.bool), ("a.scalar", (), torch.float32), ("a.empty", (0, 3), torch.float32),
        ("conv.weight", (4, 3, 3, 3), torch.float16),
    ]:
        sd[name] = make(name, shape, dt)
    # non-contiguous: the transpose of a [3, 4] f32 tensor (stride (1, 4))
    sd["view.transposed"] = make("view.transposed", (3, 4), torch.float32).t()
    # two views sharing one storage, at element offsets 2 and 8 of a 20-element tensor
    base = make("shared.base", (20,), torch.float32)
    sd["view.slice_a"] = base[2:8]
    sd["view.slice_b"] = base[8:20].view(3, 4)
    sd["param"] = torch.nn.Parameter(make("param", (2, 2), torch.float32))
    return sd


def save(obj, fname):
    torch.save(obj, os.path.join(HERE, fname))


def rezip(src, dst, compression, zip64=False):
    with zipfile.ZipFile(os.path.join(HERE, src)) as zin:
        entries = [(i.filename, zin.read(i.filename)) for i in zin.infolist()]
    if not zip64:
        with zipfile.ZipFile(os.path.join(HERE, dst), "w", compression) as zout:
            for n, b in entries:
                zout.writestr(n, b)
        return
    write_zip64(os.path.join(HERE, dst), entries)


def write_zip64(path, entries):
    """A stored zip whose central directory uses ZIP64 for every size/offset."""
    out = io.BytesIO()
    central = []
    for name, data in entries:
        nb = name.encode()
        off = out.tell()
        crc = zlib.crc32(data)
        local_extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(nb),
                              len(local_extra)))
        out.write(nb + local_extra + data)
        extra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), off)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF,
                                   0xFFFFFFFF, len(nb), len(extra), 0, 0, 0, 0, 0xFFFFFFFF) + nb + extra)
    cd_off = out.tell()
    for c in central:
        out.write(c)
    cd_size = out.tell() - cd_off
    z64 = out.tell()
    out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(entries), len(entries), cd_size, cd_off))
    out.write(struct.pack("<IIQI", 0x07064B50, 0, z64, 1))
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    with open(path, "wb") as f:
        f.write(out.getvalue())


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


class EvilGlobal:
    def __reduce__(self):
        return (eval, ("1+1",))


def main():
    torch.manual_seed(0)
    sd = state_dict()
    save(sd, "plain.ckpt")
    save({"state_dict": sd, "global_step": 1234, "epoch": 3, "np_scalar": np.float64(0.5),
          "pytorch-lightning_version": "1.4.2",
          "callbacks": {"<class 'ModelCheckpoint'>": {"best_model_score": torch.tensor(0.25), "monitor": "val"}}},
         "lightning.ckpt")
    rezip("plain.ckpt", "deflate.ckpt", zipfile.ZIP_DEFLATED)
    rezip("plain.ckpt", "zip64.ckpt", zipfile.ZIP_STORED, zip64=True)
    emb = torch.nn.Parameter(make("string_to_param.*", (2, 32), torch.float32))
    save({"string_to_token": {"*": torch.tensor(265)}, "string_to_param": {"*": emb}, "name": "tiny-emb",
          "step": 100, "sd_checkpoint": None, "sd_checkpoint_name": None}, "embedding.pt")
    save({"state_dict": {"x": torch.zeros(2)}, "payload": Evil()}, "evil.ckpt")
    torch.save({"x": torch.zeros(2), "payload": EvilGlobal()}, os.path.join(HERE, "evil_global.ckpt"),
               pickle_protocol=4)
    # every file must load back in torch (except the evil ones, which would run code)
    for f in ["plain.ckpt", "lightning.ckpt", "deflate.ckpt", "zip64.ckpt", "embedding.pt"]:
        torch.load(os.path.join(HERE, f))
    ref = torch.load(os.path.join(HERE, "zip64.ckpt"))
    assert all(torch.equal(ref[k], sd[k]) for k in sd)


if __name__ == "__main__":
    main()
