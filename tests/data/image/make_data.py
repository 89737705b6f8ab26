#!/usr/bin/python3
"""Regenerates the reference data of the image tests (tests/unit/test_image*.c).

Needs Debian's python3-pil, python3-opencv, python3-numpy, python3-torch and,
for the two photo crops, the data files of python3-skimage (public-domain /
CC0 test photos: skimage/data/astronaut.png, chelsea.png); pass their folder
as argv[1] (default /usr/lib/python3/dist-packages/skimage/data).

Every expected output here is computed by the reference library itself
(PIL, OpenCV, PyTorch); the A1111 resize modes are A1111's algorithm
written out over PIL calls, and the xdog map applies the ControlNet
annotator's numpy expression to OpenCV's Gaussian blur.
Run from anywhere: python3 make_data.py [SKIMAGE_DATA_DIR]
"""
import json
import os
import struct
import sys

import cv2
import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SKI = sys.argv[1] if len(sys.argv) > 1 else "/usr/lib/python3/dist-packages/skimage/data"
rng = np.random.default_rng(1234)


def save(name, arr_or_img):
    im = arr_or_img if isinstance(arr_or_img, Image.Image) else Image.fromarray(arr_or_img)
    im.save(os.path.join(HERE, name), optimize=True)


def synth(w, h, seed):
    """A photograph-like test card: smooth gradients, soft shapes, noise."""
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    img[..., 0] = 60 + 120 * xx / w
    img[..., 1] = 90 + 80 * np.sin(yy / h * 3.0)
    img[..., 2] = 140 - 60 * (xx + yy) / (w + h)
    for _ in range(5):
        cx, cy, rad = r.uniform(0, w), r.uniform(0, h), r.uniform(4, min(w, h) / 2.5)
        col = r.uniform(0, 255, 3)
        m = ((xx - cx) ** 2 + (yy - cy) ** 2) < rad ** 2
        img[m] = 0.35 * img[m] + 0.65 * col
    x0, y0 = int(w * 0.55), int(h * 0.15)
    img[y0:y0 + h // 3, x0:x0 + w // 4] = r.uniform(0, 255, 3)
    img = cv2.GaussianBlur(img, (0, 0), 1.2)
    img += r.normal(0, 6, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k, v in tensors.items():
        b = np.ascontiguousarray(v, dtype=np.float32).tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    if len(h) % 256 == 0x80:  # a first byte of 0x80 reads as a pickle to format sniffers
        h += b" " * 8
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_interlaced(path, rgb):
    """Adam7-interlaced 8-bit RGB PNG (filter 0 on every row); PIL cannot write one."""
    import zlib
    h, w, _ = rgb.shape
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = rgb[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        for row in sub:
            raw += b"\0" + row.tobytes()

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def infotext_cases():
    """A1111's parse_generation_parameters split (infotext_utils.py): prompt,
    negative prompt and the unquoted key/value pairs of the last line, with
    Python's own regex engine; quote() as A1111 formats values."""
    import re
    re_param = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')

    def unquote(t):
        if len(t) == 0 or t[0] != '"' or t[-1] != '"':
            return t
        try:
            return json.loads(t)
        except Exception:
            return t

    def split(x):
        prompt, neg, done = "", "", False
        *lines, last = x.strip().split("\n")
        if len(re_param.findall(last)) < 3:
            lines.append(last)
            last = ""
        for line in lines:
            line = line.strip()
            if line.startswith("Negative prompt:"):
                done = True
                line = line[16:].strip()
            if done:
                neg += ("" if neg == "" else "\n") + line
            else:
                prompt += ("" if prompt == "" else "\n") + line
        pairs = []
        for k, v in re_param.findall(last):
            if v[0] == '"' and v[-1] == '"':
                v = unquote(v)
            pairs.append([k, v])
        return {"text": x, "prompt": prompt, "negative": neg, "pairs": pairs}

    def quote(t):
        if ',' not in str(t) and '\n' not in str(t) and ':' not in str(t):
            return t
        return json.dumps(t, ensure_ascii=False)

    texts = [
        "girl with an artist's beret, determined, blue eyes, desert scene, ((eyeshadow)), (coquettish), detailed\n"
        "Negative prompt: ugly, fat, (((deformed))), [blurry], bad anatomy, (poorly drawn hands), messy drawing\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b",
        "a cat\nSteps: 20, Sampler: Euler",
        "  line one  \n\n  line two\nNegative prompt:   bad\n  worse  \nSteps: 5, Seed: -1, CFG scale: 7.5, Size: 64x48",
        "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 4.5, Seed: 3, Size: 1024x1024, "
        "Model: " + quote("my,model: v2") + ", Lora hashes: " + quote('add_detail: 7c6bad76eb54, "x\\y": 1') +
        ", Hires upscale: 2, Tiling, Version: v1.10.1",
        "prompt\nSteps: 1, Odd key-name/slash: a, Bad: \"unterminated, Other: \"\", Last: x",
        "caf\u00e9 \u732b\nNegative prompt: \U0001F408\nSteps: 2, Sampler: \u732b, Seed: 42, Note: \"\\u00e9\\n\"",
        "",
        "just a prompt, with: colons, and commas",
        "p\nSteps: 20,Sampler: Euler a,  CFG scale : 7, Seed: 1, x: ,y:,",
    ]
    with open(os.path.join(HERE, "infotext_cases.json"), "w", encoding="utf-8") as f:
        json.dump([split(t) for t in texts], f, ensure_ascii=False, indent=1)


def main():
    srcs = {
        "synth_a": synth(64, 48, 1),
        "synth_b": synth(40, 56, 2),
        "astro": np.array(Image.open(os.path.join(SKI, "astronaut.png")).convert("RGB"))[40:104, 180:244],
        "cat": np.array(Image.open(os.path.join(SKI, "chelsea.png")).convert("RGB"))[70:134, 130:194],
    }
    for k, v in srcs.items():
        save(f"{k}.png", v)

    # ControlNet canny: cv2.Canny on the RGB uint8 image
    for k, v in srcs.items():
        for lo, hi in [(100, 200), (50, 150), (20, 60)]:
            save(f"canny_{k}_{lo}_{hi}.png", cv2.Canny(v, lo, hi))

    # scribble_xdog (sd-webui-controlnet annotator): DoG of the float image
    for k, v in srcs.items():
        for thr in (32, 16):
            g1 = cv2.GaussianBlur(v.astype(np.float32), (0, 0), 0.5)
            g2 = cv2.GaussianBlur(v.astype(np.float32), (0, 0), 5.0)
            dog = (255 - np.min(g2 - g1, axis=2)).clip(0, 255).astype(np.uint8)
            res = np.zeros(v.shape[:2], np.uint8)
            res[2 * (255 - dog) > thr] = 255
            save(f"xdog_{k}_{thr}.png", res)

    # PIL resampling
    names = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS}
    for k in ("synth_a", "astro"):
        im = Image.fromarray(srcs[k])
        for (w, h) in [(37, 29), (101, 77)]:
            for n, f in names.items():
                save(f"resize_{k}_{n}_{w}x{h}.png", im.resize((w, h), f))
    rgba = np.dstack([srcs["synth_b"], np.clip(np.mgrid[0:56, 0:40][1] * 7, 0, 255).astype(np.uint8)])
    save("synth_b_rgba.png", rgba)
    save("resize_synth_b_rgba_bicubic_23x31.png", Image.fromarray(rgba, "RGBA").resize((23, 31), Image.BICUBIC))
    gray = Image.fromarray(srcs["astro"]).convert("L")
    save("astro_gray.png", gray)
    save("resize_astro_gray_lanczos_50x21.png", gray.resize((50, 21), Image.LANCZOS))
    save("resize_box_synth_a_bicubic.png", Image.fromarray(srcs["synth_a"]).resize((64, 5), Image.BICUBIC, box=(0, 0, 64, 0)))

    # A1111 resize_image modes 0/1/2 with no upscaler (modules/images.py)
    def a1111(mode, im, width, height):
        L = Image.LANCZOS
        if mode == 0:
            return im.resize((width, height), resample=L)
        ratio, src_ratio = width / height, im.width / im.height
        if mode == 1:
            src_w = width if ratio > src_ratio else im.width * height // im.height
            src_h = height if ratio <= src_ratio else im.height * width // im.width
        else:
            src_w = width if ratio < src_ratio else im.width * height // im.height
            src_h = height if ratio >= src_ratio else im.height * width // im.width
        resized = im.resize((src_w, src_h), resample=L)
        res = Image.new("RGB", (width, height))
        res.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
        if mode == 2 and ratio < src_ratio:
            fh = height // 2 - src_h // 2
            if fh > 0:
                res.paste(resized.resize((width, fh), box=(0, 0, width, 0)), box=(0, 0))
                res.paste(resized.resize((width, fh), box=(0, resized.height, width, resized.height)), box=(0, fh + src_h))
        elif mode == 2 and ratio > src_ratio:
            fw = width // 2 - src_w // 2
            if fw > 0:
                res.paste(resized.resize((fw, height), box=(0, 0, 0, height)), box=(0, 0))
                res.paste(resized.resize((fw, height), box=(resized.width, 0, resized.width, height)), box=(fw + src_w, 0))
        return res

    for mode in (0, 1, 2):
        for (w, h) in [(48, 48), (40, 56), (72, 40)]:
            save(f"a1111_mode{mode}_{w}x{h}.png", a1111(mode, Image.fromarray(srcs["synth_a"]), w, h))

    # JPEG / WebP decoding as PIL does it
    Image.fromarray(srcs["astro"]).save(os.path.join(HERE, "astro_q90.jpg"), quality=90)
    Image.fromarray(srcs["cat"]).convert("L").save(os.path.join(HERE, "cat_gray_prog.jpg"), quality=75, progressive=True)
    Image.fromarray(srcs["synth_a"]).save(os.path.join(HERE, "synth_a_420.jpg"), quality=60, subsampling=2)
    for n in ("astro_q90.jpg", "cat_gray_prog.jpg", "synth_a_420.jpg"):
        save(n.replace(".jpg", "_decoded.png"), np.array(Image.open(os.path.join(HERE, n))))
    Image.fromarray(srcs["cat"]).save(os.path.join(HERE, "cat_lossy.webp"), quality=70)
    Image.fromarray(rgba, "RGBA").save(os.path.join(HERE, "synth_b_lossless.webp"), lossless=True)
    save("cat_lossy_decoded.png", np.array(Image.open(os.path.join(HERE, "cat_lossy.webp")).convert("RGB")))
    save("synth_b_lossless_decoded.png", np.array(Image.open(os.path.join(HERE, "synth_b_lossless.webp"))))

    # A1111 mask blur: cv2.GaussianBlur with kernel 2*int(2.5*b+0.5)+1, x then y
    m = np.zeros((40, 48), np.uint8)
    m[10:30, 12:30] = 255
    m[5:8, 35:45] = 200
    save("mask_src.png", m)
    for bx, by in [(4, 4), (2, 7), (1, 1), (8, 3), (16, 0), (0, 11)]:
        out = m.copy()
        if bx > 0:
            ks = 2 * int(2.5 * bx + 0.5) + 1
            out = cv2.GaussianBlur(out, (ks, 1), bx)
        if by > 0:
            ks = 2 * int(2.5 * by + 0.5) + 1
            out = cv2.GaussianBlur(out, (1, ks), by)
        save(f"mask_blur_{bx}_{by}.png", out)

    # PNG variants the decoder must expand to 8-bit gray / RGB / RGBA
    pal = Image.fromarray(srcs["synth_b"]).quantize(colors=16)
    pal.info["transparency"] = 3
    pal.save(os.path.join(HERE, "png_palette_trns.png"), transparency=3)
    save("png_palette_trns_expected.png", np.array(Image.open(os.path.join(HERE, "png_palette_trns.png")).convert("RGBA")))
    v16 = srcs["synth_b"].astype(np.uint16) * 257 + rng.integers(0, 256, srcs["synth_b"].shape).astype(np.uint16)
    v16 = np.minimum(v16, 65535).astype(np.uint16)
    cv2.imwrite(os.path.join(HERE, "png_rgb16.png"), v16[..., ::-1])  # cv2 writes BGR
    save("png_rgb16_expected.png", (v16 >> 8).astype(np.uint8))
    write_interlaced(os.path.join(HERE, "png_interlaced.png"), srcs["synth_b"][:11, :13])
    save("png_interlaced_expected.png", srcs["synth_b"][:11, :13])
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat, caf\u00e9\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, Size: 40x56")
    info.add_text("prompt", '{"3": {"class_type": "KSampler"}}', zip=True)
    info.add_text("workflow", "\u732b \U0001F408 nodes")
    Image.fromarray(srcs["synth_b"]).convert("LA").save(os.path.join(HERE, "png_text_la.png"), pnginfo=info)

    # masks at latent size: A1111 (PIL bicubic of the mask converted to RGB, /255,
    # np.around) and diffusers (binarize at 0.5, F.interpolate nearest)
    mb = Image.open(os.path.join(HERE, "mask_blur_4_4.png"))
    lat = np.array(mb.convert("RGB").resize((6, 5)), dtype=np.float32)[..., 0] / 255
    mt = {"a1111": lat, "a1111_round": np.around(lat)}
    mbin = torch.from_numpy((np.array(mb, dtype=np.float32) / 255 >= 0.5).astype(np.float32))[None, None]
    mt["diffusers"] = torch.nn.functional.interpolate(mbin, size=(5, 6)).numpy()[0, 0]

    # ComfyUI ImagePadForOutpaint mask (nodes.py expand_image loop)
    def comfy_pad_mask(d2, d3, left, top, right, bottom, feathering):
        mask = torch.ones((d2 + top + bottom, d3 + left + right), dtype=torch.float32)
        t = torch.zeros((d2, d3), dtype=torch.float32)
        if feathering > 0 and feathering * 2 < d2 and feathering * 2 < d3:
            for i in range(d2):
                for j in range(d3):
                    dt = i if top != 0 else d2
                    db = d2 - i if bottom != 0 else d2
                    dl = j if left != 0 else d3
                    dr = d3 - j if right != 0 else d3
                    d = min(dt, db, dl, dr)
                    if d >= feathering:
                        continue
                    v = (feathering - d) / feathering
                    t[i, j] = v * v
        mask[top:top + d2, left:left + d3] = t
        return mask.numpy()

    mt["comfy_pad_8_0_4_12_f10"] = comfy_pad_mask(24, 30, 8, 0, 4, 12, 10)
    mt["comfy_pad_0_6_0_0_f5"] = comfy_pad_mask(24, 30, 0, 6, 0, 0, 5)
    mt["comfy_pad_3_3_3_3_f12"] = comfy_pad_mask(24, 30, 3, 3, 3, 3, 12)  # 2f >= 24: no feather
    safetensors(os.path.join(HERE, "masks.safetensors"), mt)

    infotext_cases()

    # latent interpolation as torch does it
    x = torch.from_numpy(rng.standard_normal((1, 4, 5, 7)).astype(np.float32))
    t = {"x": x.numpy()}
    for mode in ("nearest", "nearest-exact", "bilinear"):
        for (h, w) in [(12, 9), (3, 4), (10, 14)]:
            y = torch.nn.functional.interpolate(x, size=(h, w), mode=mode)
            t[f"{mode}_{h}x{w}"] = y.numpy()
    safetensors(os.path.join(HERE, "latent_interp.safetensors"), t)


if __name__ == "__main__":
    main()
