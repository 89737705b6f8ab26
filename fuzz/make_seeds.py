#!/usr/bin/python3
"""Writes the seed corpora of the formats fuzz targets (standard library only).

  fuzz/corpus/safetensors/  small valid files: several dtypes, metadata, scalar, empty tensor
  fuzz/corpus/gguf/         GGUF v3: f32/f16/q8_0/q4_0 tensors, string/int/array key-values
  fuzz/corpus/pickle/       data.pkl of each checkpoint in tests/data/formats (torch.save output)
  fuzz/corpus/zip/          the small checkpoints themselves (stored, deflate, zip64)
Run from the repository root:  /usr/bin/python3 fuzz/make_seeds.py
"""
import json, os, struct, zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
DATA = os.path.join(ROOT, "tests", "data", "formats")


def out(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors(tensors, meta=None):
    header, blob = {}, b""
    if meta:
        header["__metadata__"] = meta
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def gguf(kvs, tensors):
    def s(x):
        b = x.encode()
        return struct.pack("<Q", len(b)) + b
    body = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for key, typ, val in kvs:
        body += s(key) + struct.pack("<I", typ) + val
    off, blobs = 0, []
    for name, ggml_type, dims, data in tensors:
        body += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        body += struct.pack("<IQ", ggml_type, off)
        pad = -len(data) % 32
        blobs.append(data + b"\0" * pad)
        off += len(data) + pad
    body += b"\0" * (-len(body) % 32)
    return body + b"".join(blobs)


def main():
    f32 = lambda *v: struct.pack("<%df" % len(v), *v)
    out("safetensors", "basic.safetensors", safetensors(
        [("a.weight", "F32", [2, 3], f32(1, 2, 3, 4, 5, 6)), ("a.bias", "F16", [2], b"\x00\x3c\x00\xc0")],
        {"format": "pt", "note": "seed"}))
    out("safetensors", "kinds.safetensors", safetensors(
        [("s", "F32", [], f32(3.5)), ("e", "F16", [0, 4], b""), ("b", "BOOL", [3], b"\x01\x00\x01"),
         ("i", "I64", [2], struct.pack("<2q", -1, 7)), ("h", "BF16", [3, 2], b"\x80\x3f" * 6)]))
    out("safetensors", "empty.safetensors", safetensors([]))
    u32 = lambda v: struct.pack("<I", v)
    q8 = struct.pack("<H", 0x2c00) + bytes(range(32))                # d = 1/16, q = 0..31
    q4 = struct.pack("<H", 0x3c00) + bytes((i * 17) & 255 for i in range(16))
    out("gguf", "basic.gguf", gguf(
        [("general.alignment", 4, u32(32)), ("general.name", 8, struct.pack("<Q", 4) + b"seed"),
         ("sdc.list", 9, struct.pack("<IQ", 5, 3) + struct.pack("<3i", 1, 2, 3))],
        [("w", 0, [3, 2], f32(1, 2, 3, 4, 5, 6)), ("h", 1, [4], b"\x00\x3c" * 4), ("q8", 8, [32, 2], q8 * 2),
         ("q4", 2, [32], q4)]))
    out("gguf", "nested.gguf", gguf(
        [("tok", 9, struct.pack("<IQ", 8, 2) + struct.pack("<Q", 1) + b"a" + struct.pack("<Q", 2) + b"bc"),
         ("f", 6, struct.pack("<f", 0.5)), ("b", 7, b"\x01")], []))
    for ck in ["plain.ckpt", "lightning.ckpt", "deflate.ckpt", "zip64.ckpt", "embedding.pt", "evil.ckpt"]:
        path = os.path.join(DATA, ck)
        with open(path, "rb") as f:
            out("zip", ck, f.read())
        with zipfile.ZipFile(path) as z:
            pkl = [n for n in z.namelist() if n.endswith("data.pkl")][0]
            out("pickle", ck.replace(".", "_") + ".pkl", z.read(pkl))
    out("pickle", "protocol0.pkl", b"(dp0\nVa\np1\n(lp2\nI1\naF2.5\nasS'b'\np3\nNs.")


if __name__ == "__main__":
    main()
