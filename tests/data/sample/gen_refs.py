#!/usr/bin/python3
"""Reference tensors for sdc's sampling tests (tests/unit/test_sample*.c,
tests/ref/test_sched*.c). Run with Debian's python3 (torch 1.13, numpy,
scipy) from the repository root:

    /usr/bin/python3 tests/data/sample/gen_refs.py KDIFF_DIR TORCHSDE_DIR RNG_PHILOX_PY UNIPC_PY

KDIFF_DIR: a checkout of crowsonkb/k-diffusion (its k_diffusion/sampling.py
and external.py are loaded); TORCHSDE_DIR: a checkout of
google-research/torchsde (needs the small 'trampoline' package importable);
RNG_PHILOX_PY: AUTOMATIC1111's modules/rng_philox.py; UNIPC_PY: wl-zhao/UniPC's
uni_pc.py (run with ComfyUI's wiring: time = sigma). None of them is
copied into the repository; this script only calls them.

Writes, next to this script:
  rng.safetensors        torch.randn (AVX2 and portable paths), ComfyUI
                         noise conventions, A1111 philox noise
  kdiff.safetensors      k-diffusion / ComfyUI sigma schedules, t(sigma),
                         and sampler trajectories with a fake denoiser
  brownian.safetensors   torchsde BrownianTree noise as ComfyUI's
                         BrownianTreeNoiseSampler draws it
"""
import importlib.util
import json
import math
import os
import struct
import subprocess
import sys
import types

import numpy as np
import scipy.stats
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def save(path, tensors, meta=None):
    """Minimal safetensors writer (float32 / int32)."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t))
        if a.dtype == np.float64:
            a = a.astype(np.float32)
        dt = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32", np.dtype(np.int64): "I64"}[a.dtype]
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if meta:
        header["__metadata__"] = {k: str(v) for k, v in meta.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    print(f"wrote {path} ({8 + len(h) + off} bytes)")


# ---------------------------------------------------------------------------
# RNG
RNG_SEEDS = [0, 1, 42, 123456789, 2**32 + 5]
RNG_SIZES = [1, 2, 7, 15, 16, 17, 33, 64, 1000]


def randn_table(prefix):
    out = {}
    for s in RNG_SEEDS:
        for n in RNG_SIZES:
            out[f"{prefix}_s{s}_n{n}"] = torch.randn(n, generator=torch.Generator().manual_seed(s))
    out[f"{prefix}_s7_n4096"] = torch.randn([1, 4, 32, 32], generator=torch.Generator().manual_seed(7)).flatten()
    g = torch.Generator().manual_seed(99)  # consecutive draws: the scalar path caches one value
    out[f"{prefix}_seq99"] = torch.cat([torch.randn(k, generator=g) for k in (3, 5, 16, 1, 20)])
    return out


def portable_randn():
    """torch.randn with ATen's portable (non-AVX2) kernel: a child process
    with ATEN_CPU_CAPABILITY=default."""
    code = ("import torch,sys,io;sys.path.insert(0,%r);import gen_refs as g;"
            "t=g.randn_table('cpuscalar');buf=io.BytesIO();torch.save(t,buf);"
            "sys.stdout.buffer.write(buf.getvalue())" % HERE)
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
    raw = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True).stdout
    import io
    return torch.load(io.BytesIO(raw))


def comfy_prepare_noise(shape, seed, batch_index=None):
    """ComfyUI comfy.sample.prepare_noise, written from its description."""
    gen = torch.manual_seed(seed)
    if batch_index is None:
        return torch.randn(shape, generator=gen)
    uniq = sorted(set(batch_index))
    draws = {}
    for i in range(uniq[-1] + 1):
        n = torch.randn([1] + list(shape[1:]), generator=gen)
        if i in uniq:
            draws[i] = n
    return torch.cat([draws[i] for i in batch_index], 0)


def make_rng(philox_py):
    out = randn_table("cpu")
    out.update(portable_randn())
    # ComfyUI: initial noise for the whole batch in one draw; ancestral noise
    # from a CPU generator seeded with seed + 1, randn of the latent's shape
    out["comfy_init_b2"] = comfy_prepare_noise([2, 4, 4, 6], 1234).flatten()
    out["comfy_init_idx"] = comfy_prepare_noise([3, 4, 4, 6], 1234, [2, 0, 2]).flatten()
    out["comfy_init_odd_idx"] = comfy_prepare_noise([2, 4, 3, 3], 77, [1, 3]).flatten()
    g = torch.Generator().manual_seed(1234 + 1)
    out["comfy_anc_b2"] = torch.cat([torch.randn([2, 4, 4, 6], generator=g).flatten() for _ in range(3)])
    spec = importlib.util.spec_from_file_location("rng_philox", philox_py)
    ph = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ph)
    for s in (0, 1, 42, 2**40 + 3):
        g = ph.Generator(s)
        out[f"philox_s{s}"] = torch.from_numpy(np.concatenate([g.randn((3, 4)).ravel(), g.randn((5,)).ravel(),
                                                               g.randn((4, 16, 16)).ravel()]))
    return out


# ---------------------------------------------------------------------------
# k-diffusion samplers and schedules

def load_kdiff(kdir):
    pkg = types.ModuleType("k_diffusion")
    pkg.__path__ = []
    utils = types.ModuleType("k_diffusion.utils")
    utils.append_dims = lambda x, n: x[(...,) + (None,) * (n - x.ndim)]
    pkg.utils = utils
    tq = types.ModuleType("tqdm.auto")
    tq.trange = lambda *a, **k: range(*a)
    tq.tqdm = lambda *a, **k: None
    sys.modules.update({"k_diffusion": pkg, "k_diffusion.utils": utils, "tqdm": types.ModuleType("tqdm"),
                        "tqdm.auto": tq, "torchdiffeq": types.ModuleType("torchdiffeq")})
    sys.modules["torchdiffeq"].odeint = None
    mods = {}
    for name in ("sampling", "external"):
        spec = importlib.util.spec_from_file_location("k_diffusion." + name, os.path.join(kdir, "k_diffusion", name + ".py"))
        m = importlib.util.module_from_spec(spec)
        sys.modules["k_diffusion." + name] = m
        spec.loader.exec_module(m)
        mods[name] = m
    return mods["sampling"], mods["external"]


def train_sigmas():
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float32) ** 2
    ac = torch.cumprod(1 - betas, 0)
    return ((1 - ac) / ac) ** 0.5


class Comfy:
    """ComfyUI's ModelSamplingDiscrete sigma/timestep and schedulers, written
    from comfy/model_sampling.py and comfy/samplers.py."""

    def __init__(self, sigmas):
        self.sigmas = sigmas
        self.log_sigmas = sigmas.log()
        self.sigma_min, self.sigma_max = sigmas[0], sigmas[-1]

    def timestep(self, sigma):
        log_sigma = sigma.log()
        dists = log_sigma.to(self.log_sigmas.device) - self.log_sigmas[:, None]
        return dists.abs().argmin(dim=0).view(sigma.shape)

    def sigma(self, t):
        t = torch.clamp(t.float(), min=0, max=len(self.sigmas) - 1)
        lo, hi = t.floor().long(), t.ceil().long()
        w = t.frac()
        return ((1 - w) * self.log_sigmas[lo] + w * self.log_sigmas[hi]).exp()

    def normal(self, steps, sgm=False):
        start, end = self.timestep(self.sigma_max), self.timestep(self.sigma_min)
        ts = torch.linspace(start, end, steps + 1)[:-1] if sgm else torch.linspace(start, end, steps)
        return torch.FloatTensor([float(self.sigma(t)) for t in ts] + [0.0])

    def simple(self, steps):
        ss = len(self.sigmas) / steps
        return torch.FloatTensor([float(self.sigmas[-(1 + int(x * ss))]) for x in range(steps)] + [0.0])

    def beta(self, steps, a=0.6, b=0.6):
        ts = np.rint(scipy.stats.beta.ppf(1 - np.linspace(0, 1, steps, endpoint=False), a, b) * 999)
        sigs, last = [], -1
        for t in ts:
            if t != last:
                sigs.append(float(self.sigmas[int(t)]))
            last = t
        return torch.FloatTensor(sigs + [0.0])

    def linear_quadratic(self, steps, thr=0.025):
        lin = steps // 2
        ls = [i * thr / lin for i in range(lin)]
        diff = lin - thr * steps
        quad = steps - lin
        qc = diff / (lin * quad ** 2)
        lc = thr / lin - 2 * diff / (quad ** 2)
        c = qc * lin ** 2
        qs = [qc * i ** 2 + lc * i + c for i in range(lin, steps)]
        return torch.FloatTensor([1.0 - x for x in ls + qs + [1.0]]) * self.sigma_max

    def kl_optimal(self, n):
        adj = torch.arange(n, dtype=torch.float).div_(n - 1)
        s = adj.new_zeros(n + 1)
        s[:-1] = (adj * math.atan(float(self.sigma_min)) + (1 - adj) * math.atan(float(self.sigma_max))).tan_()
        return s


def fake_denoiser(x, sigma):
    """Deterministic stand-in for a model: x0 = tanh(x) * 0.9 + 0.05 * sigma."""
    return torch.tanh(x) * 0.9 + 0.05 * sigma.view(-1, *([1] * (x.ndim - 1)))


class NoiseLog:
    def __init__(self, shape, seed):
        self.g = torch.Generator().manual_seed(seed)
        self.shape = shape
        self.draws = []

    def __call__(self, sigma, sigma_next):
        z = torch.randn(self.shape, generator=self.g)
        self.draws.append(z.flatten())
        return z


def comfy_extra_samplers(name, x, sigmas, noise):
    """ddpm, lcm, ipndm, ipndm_v and ddim(eta) from ComfyUI's formulas (and the
    DDIM paper), for the samplers upstream k-diffusion does not have."""
    s_in = x.new_ones([x.shape[0]])
    bufs = []
    for i in range(len(sigmas) - 1):
        s, sn = sigmas[i], sigmas[i + 1]
        den = fake_denoiser(x, s * s_in)
        if name == "lcm":
            x = den + (noise(s, sn) * sn if sn > 0 else 0)
        elif name == "ddpm":
            ac, acp = 1 / (s * s + 1), 1 / (sn * sn + 1)
            alpha = ac / acp
            eps = (x - den) / s
            mu = (1 / alpha).sqrt() * (x / (1 + s * s).sqrt() - (1 - alpha) * eps / (1 - ac).sqrt())
            if sn > 0:
                mu = mu + ((1 - alpha) * (1 - acp) / (1 - ac)).sqrt() * noise(s, sn)
            x = mu * (1 + sn * sn).sqrt() if sn != 0 else mu
        elif name == "ddim_eta":
            eta = 0.5
            ac, acp = 1 / (1 + s * s), 1 / (1 + sn * sn)
            eps = (x - den) / s
            sd = eta * ((1 - acp) / (1 - ac)).sqrt() * (1 - ac / acp).sqrt()
            x = den + ((1 - acp - sd * sd) / acp).sqrt() * eps + sd / acp.sqrt() * noise(s, sn)
        else:  # ipndm / ipndm_v
            d = (x - den) / s
            order = min(4, i + 1)
            if sn == 0:
                x = den
            elif name == "ipndm" or order == 1:
                c = [[1], [1.5, -0.5], [23 / 12, -16 / 12, 5 / 12], [55 / 24, -59 / 24, 37 / 24, -9 / 24]][order - 1]
                x = x + (sn - s) * sum(cj * dj for cj, dj in zip(c, [d] + bufs[::-1]))
            else:
                t = sigmas
                hn, h1 = t[i + 1] - t[i], t[i] - t[i - 1]
                c = [(2 + hn / h1) / 2, -(hn / h1) / 2]
                if order >= 3:
                    h2 = t[i - 1] - t[i - 2]
                    t1 = (1 - hn / (3 * (hn + h1)) * (hn * (hn + h1)) / (h1 * (h1 + h2))) / 2
                    if order == 3:
                        c = [c[0] + t1, c[1] - (1 + h1 / h2) * t1, t1 * h1 / h2]
                    else:
                        h3 = t[i - 2] - t[i - 3]
                        q = h1 * (h1 + h2) / (h2 * (h2 + h3))
                        t2 = ((1 - hn / (3 * (hn + h1))) / 2 + (1 - hn / (2 * (hn + h1))) * hn / (6 * (hn + h1 + h2))) \
                            * (hn * (hn + h1) * (hn + h1 + h2)) / (h1 * (h1 + h2) * (h1 + h2 + h3))
                        c = [c[0] + t1 + t2, c[1] - (1 + h1 / h2) * t1 - (1 + h1 / h2 + q) * t2,
                             t1 * h1 / h2 + (h1 / h2 + q * (1 + h2 / h3)) * t2, -t2 * q * h1 / h2]
                x = x + (sn - s) * sum(cj * dj for cj, dj in zip(c, [d] + bufs[::-1]))
            bufs = (bufs + [d])[-3:]
    return x


class SigmaSchedule:
    """VP quantities with time = sigma, as ComfyUI feeds UniPC."""
    def marginal_log_mean_coeff(self, s):
        return 0.5 * torch.log(1 / (s * s + 1))

    def marginal_alpha(self, s):
        return torch.exp(self.marginal_log_mean_coeff(s))

    def marginal_std(self, s):
        return torch.sqrt(1. - torch.exp(2. * self.marginal_log_mean_coeff(s)))

    def marginal_lambda(self, s):
        lmc = self.marginal_log_mean_coeff(s)
        return lmc - 0.5 * torch.log(1. - torch.exp(2. * lmc))


def run_unipc(unipc_py, x, sigmas, variant):
    """UniPC (upstream code) as ComfyUI's sample_unipc drives it."""
    spec = importlib.util.spec_from_file_location("uni_pc_ref", unipc_py)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    ts = sigmas.clone()
    if ts[-1] == 0:
        ts[-1] = 0.001
    ns = SigmaSchedule()

    def eps_fn(xv, t):  # ComfyUI's predict_eps_sigma around the denoiser
        t = t.view(-1, *([1] * (xv.ndim - 1)))
        xs = xv * (t * t + 1).sqrt()
        return (xs - fake_denoiser(xs, t.flatten())) / t

    uni = m.UniPC(eps_fn, ns, algorithm_type="data_prediction", variant=variant)
    uni.get_time_steps = lambda **kw: ts
    steps = len(ts) - 1
    xv = x / (1 + sigmas[0] ** 2).sqrt()
    import contextlib, io
    with contextlib.redirect_stdout(io.StringIO()):
        out = uni.sample(xv, steps=steps, t_start=ts[0], t_end=ts[-1], order=min(3, steps - 1),
                         method="multistep", lower_order_final=True)
    return out / ns.marginal_alpha(ts[-1])


def make_kdiff(kdir, unipc_py):
    K, ext = load_kdiff(kdir)
    sig = train_sigmas()
    comfy = Comfy(sig)
    smin, smax = float(sig[0]), float(sig[-1])
    out = {"train_sigmas": sig}
    for n in (1, 4, 10, 25):
        out[f"sched_karras_{n}"] = K.get_sigmas_karras(n, smin, smax)
        out[f"sched_exponential_{n}"] = K.get_sigmas_exponential(n, smin, smax)
        out[f"sched_normal_comfy_{n}"] = comfy.normal(n)
        out[f"sched_sgm_uniform_{n}"] = comfy.normal(n, sgm=True)
        out[f"sched_simple_{n}"] = comfy.simple(n)
        out[f"sched_beta_{n}"] = comfy.beta(n)
        if n > 1:
            out[f"sched_linear_quadratic_{n}"] = comfy.linear_quadratic(n)
            out[f"sched_kl_optimal_{n}"] = comfy.kl_optimal(n)
    ds = ext.DiscreteSchedule(sig, quantize=False)
    probe = torch.tensor([14.6, 10.0, 3.3, 1.0, 0.5, 0.2, 0.1, 0.05, 0.03, 0.0292], dtype=torch.float32)
    out["t_probe_sigma"], out["t_probe_t"] = probe, ds.sigma_to_t(probe)
    tp = torch.tensor([0.0, 0.5, 1.25, 417.25, 998.9, 999.0])
    out["sigma_probe_t"], out["sigma_probe_sigma"] = tp, ds.t_to_sigma(tp)

    shape = [1, 4, 4, 4]
    x_init = torch.randn(shape, generator=torch.Generator().manual_seed(5))
    model = lambda x, s, **kw: fake_denoiser(x, s)
    out["x_init"] = x_init.flatten()
    cases = [("euler", "karras_10"), ("euler_ancestral", "karras_10"), ("heun", "karras_10"), ("dpm_2", "karras_10"),
             ("dpm_2_ancestral", "karras_10"), ("lms", "karras_10"), ("dpmpp_2s_ancestral", "karras_10"),
             ("dpmpp_sde", "karras_10"), ("dpmpp_2m", "karras_10"), ("dpmpp_2m_sde", "karras_10"),
             ("dpmpp_2m_sde_heun", "karras_10"), ("dpmpp_3m_sde", "karras_10"), ("euler", "normal_comfy_4"),
             ("lms", "exponential_4"), ("dpmpp_2m", "sgm_uniform_25"), ("dpmpp_3m_sde", "exponential_25"),
             ("ddpm", "karras_10"), ("lcm", "sgm_uniform_4"), ("ipndm", "karras_10"), ("ipndm_v", "karras_10"),
             ("ddim_eta", "karras_10"), ("uni_pc", "karras_10"), ("uni_pc_bh2", "karras_10"),
             ("uni_pc_bh2", "exponential_25"), ("uni_pc", "karras_4")]
    for name, sched in cases:
        sigmas = out["sched_" + sched]
        noise = NoiseLog(shape, 11)
        x = x_init * sigmas[0]
        if name.startswith("uni_pc"):
            # in float64: ComfyUI's float32 std = sqrt(1 - exp(2 log alpha)) cancels
            # catastrophically at small sigma (~1e-4 relative error at 0.03)
            x = run_unipc(unipc_py, x.double(), sigmas.double(), "bh2" if name.endswith("bh2") else "bh1").float()
        elif name in ("ddpm", "lcm", "ipndm", "ipndm_v", "ddim_eta"):
            x = comfy_extra_samplers(name, x, sigmas, noise)
        else:
            kw = {}
            fn = name
            if name == "dpmpp_2m_sde_heun":
                fn, kw = "dpmpp_2m_sde", {"solver_type": "heun"}
            if name in ("euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_2m_sde",
                        "dpmpp_3m_sde", "dpmpp_2m_sde_heun"):
                kw["noise_sampler"] = noise
            if name == "lms":  # ComfyUI's LMS ends with x = denoised; upstream integrates to sigma 0
                x = K.sample_lms(model, x, sigmas[:-1])
                x = fake_denoiser(x, sigmas[-2:-1])
            else:
                x = getattr(K, "sample_" + fn)(model, x, sigmas, **kw)
        key = f"{name}__{sched}"
        out["traj_" + key] = x.flatten()
        out["noise_" + key] = torch.cat(noise.draws) if noise.draws else torch.zeros(1)
    return out


# ---------------------------------------------------------------------------
# Brownian tree

def make_brownian(tsde_dir):
    sys.path.insert(0, tsde_dir)
    import torchsde
    out = {}
    for seed, shape in ((0, [1, 4, 4, 4]), (123456, [2, 4, 3, 5])):
        x = torch.zeros(shape)
        sig = train_sigmas()
        smin, smax = sig[0], sig[-1]  # float32 tensors, as sigmas[sigmas > 0].min() / max()
        tree = torchsde.BrownianTree(smin.cpu(), torch.zeros_like(x), smax.cpu(), entropy=seed)
        # ComfyUI's BrownianTreeNoiseSampler(x, sigma_min, sigma_max, seed):
        # tree(lo, hi) * sign / sqrt(|t1 - t0|), queried by decreasing sigmas
        ks = torch.cat([torch.tensor([float(s) for s in [14.614642, 7.0, 3.0, 1.5, 0.7, 0.3, 0.1, 0.05]]),
                        torch.tensor([0.0291675])])
        draws, pairs = [], []
        for i in range(len(ks) - 1):
            for a, b in ((ks[i], ks[i + 1]), (ks[i], (ks[i] * ks[i + 1]).sqrt())):
                a, b = a.float(), b.float()
                lo, hi, sign = (a, b, 1) if a < b else (b, a, -1)
                w = tree(lo, hi) * sign
                draws.append((w / (b - a).abs().sqrt()).flatten())
                pairs.append(torch.stack([a, b]))
        out[f"bt{seed}_pairs"] = torch.stack(pairs)
        out[f"bt{seed}_noise"] = torch.cat(draws)
        out[f"bt{seed}_shape"] = torch.tensor(shape, dtype=torch.int32)
        out[f"bt{seed}_range"] = torch.stack([smin, smax])
    # numpy SeedSequence states the tree seeds from
    for ent, key in ((0, ()), (123456, (5, 3)), (2**40 + 7, (1, 1))):
        ss = np.random.SeedSequence(entropy=ent, spawn_key=key, pool_size=24) if key else \
            np.random.SeedSequence(entropy=ent, pool_size=24)
        out[f"seedseq_{ent}_{'_'.join(map(str, key)) or 'root'}"] = torch.from_numpy(
            ss.generate_state(4).astype(np.int64))
    return out


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    sys.path.insert(0, sys.argv[2])  # k-diffusion's sampling.py imports torchsde
    save(os.path.join(HERE, "rng.safetensors"), make_rng(sys.argv[3]), {"torch": torch.__version__})
    save(os.path.join(HERE, "kdiff.safetensors"), make_kdiff(sys.argv[1], sys.argv[4]), {"torch": torch.__version__})
    save(os.path.join(HERE, "brownian.safetensors"), make_brownian(sys.argv[2]), {"torch": torch.__version__})
