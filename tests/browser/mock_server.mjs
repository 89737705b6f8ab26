// A stand-in for `sdc serve` for working on the web UI by hand when no sdc build is at hand:
// serves web/ and answers the A1111, ComfyUI and /sdc/v1 calls the UI makes with flat-colour
// PNGs after a short delay. It computes nothing and checks little; the browser tests
// (run.mjs) run against the real server. Usage: node tests/browser/mock_server.mjs [PORT]
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web');
const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png', '.svg': 'image/svg+xml' };

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
});
function crc32(buf) {
    let c = 0xffffffff;
    for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
}
function png(w, h, rgb, texts = {}) {
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(w, 0);
    ihdr.writeUInt32BE(h, 4);
    ihdr.set([8, 2, 0, 0, 0], 8);
    const raw = Buffer.alloc((w * 3 + 1) * h);
    for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) raw.set([(rgb[0] + x) & 255, (rgb[1] + y) & 255, rgb[2]], y * (w * 3 + 1) + 1 + x * 3);
    const t = Object.entries(texts).map(([k, v]) => chunk('tEXt', Buffer.from(`${k}\0${v}`, 'latin1')));
    const sig = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
    return Buffer.concat([sig, chunk('IHDR', ihdr), ...t, chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const progress = { active: false, step: 0, steps: 0, interrupted: false };
const outputs = new Map(); // filename -> Buffer
const history = {};
const sockets = new Map(); // clientId -> socket
const doodleLatest = new Map();

const OBJECT_INFO = {
    CheckpointLoaderSimple: { input: { required: { ckpt_name: [['tiny.safetensors']] } }, output: ['MODEL', 'CLIP', 'VAE'], output_name: ['MODEL', 'CLIP', 'VAE'], name: 'CheckpointLoaderSimple', display_name: 'Load Checkpoint', category: 'loaders', output_node: false },
    CLIPTextEncode: { input: { required: { text: ['STRING', { multiline: true }], clip: ['CLIP'] } }, output: ['CONDITIONING'], output_name: ['CONDITIONING'], name: 'CLIPTextEncode', display_name: 'CLIP Text Encode (Prompt)', category: 'conditioning', output_node: false },
    EmptyLatentImage: { input: { required: { width: ['INT', { default: 512, min: 16, max: 8192, step: 8 }], height: ['INT', { default: 512, min: 16, max: 8192, step: 8 }], batch_size: ['INT', { default: 1, min: 1, max: 64 }] } }, output: ['LATENT'], output_name: ['LATENT'], name: 'EmptyLatentImage', display_name: 'Empty Latent Image', category: 'latent', output_node: false },
    KSampler: { input: { required: { model: ['MODEL'], seed: ['INT', { default: 0, min: 0, max: 0xffffffffffffffff }], steps: ['INT', { default: 20, min: 1, max: 10000 }], cfg: ['FLOAT', { default: 8, min: 0, max: 100, step: 0.1, round: 0.01 }], sampler_name: [['euler', 'euler_ancestral', 'dpmpp_2m']], scheduler: [['normal', 'karras']], positive: ['CONDITIONING'], negative: ['CONDITIONING'], latent_image: ['LATENT'], denoise: ['FLOAT', { default: 1, min: 0, max: 1, step: 0.01 }] } }, output: ['LATENT'], output_name: ['LATENT'], name: 'KSampler', display_name: 'KSampler', category: 'sampling', output_node: false },
    VAEDecode: { input: { required: { samples: ['LATENT'], vae: ['VAE'] } }, output: ['IMAGE'], output_name: ['IMAGE'], name: 'VAEDecode', display_name: 'VAE Decode', category: 'latent', output_node: false },
    SaveImage: { input: { required: { images: ['IMAGE'], filename_prefix: ['STRING', { default: 'ComfyUI' }] } }, output: [], output_name: [], name: 'SaveImage', display_name: 'Save Image', category: 'image', output_node: true },
    PreviewImage: { input: { required: { images: ['IMAGE'] } }, output: [], output_name: [], name: 'PreviewImage', display_name: 'Preview Image', category: 'image', output_node: true },
    LoadImage: { input: { required: { image: [['example.png'], { image_upload: true }] } }, output: ['IMAGE', 'MASK'], output_name: ['IMAGE', 'MASK'], name: 'LoadImage', display_name: 'Load Image', category: 'image', output_node: false },
};

function send(res, code, body, type = 'application/json') {
    const data = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    res.writeHead(code, { 'Content-Type': type, 'Content-Length': data.length });
    res.end(data);
}
async function body(req) {
    const parts = [];
    for await (const c of req) parts.push(c);
    return Buffer.concat(parts);
}

function wsSend(socket, data) {
    if (!socket || socket.destroyed) return;
    const payload = Buffer.isBuffer(data) ? data : Buffer.from(JSON.stringify(data));
    const op = Buffer.isBuffer(data) ? 0x82 : 0x81;
    let head;
    if (payload.length < 126) head = Buffer.from([op, payload.length]);
    else if (payload.length < 65536) {
        head = Buffer.from([op, 126, 0, 0]);
        head.writeUInt16BE(payload.length, 2);
    } else {
        head = Buffer.alloc(10);
        head[0] = op;
        head[1] = 127;
        head.writeBigUInt64BE(BigInt(payload.length), 2);
    }
    socket.write(Buffer.concat([head, payload]));
}

async function txt2img(p, isImg2img) {
    const n = (p.batch_size ?? 1) * (p.n_iter ?? 1);
    const steps = p.steps ?? 20;
    Object.assign(progress, { active: true, step: 0, steps, interrupted: false });
    for (let s = 0; s < steps && !progress.interrupted; s++) {
        await sleep(150);
        progress.step = s + 1;
    }
    progress.active = false;
    const seed = p.seed == null || p.seed < 0 ? Math.floor(Math.random() * 1e9) : p.seed;
    const infotexts = [];
    const images = [];
    for (let i = 0; i < n; i++) {
        let t = `${p.prompt ?? ''}\nNegative prompt: ${p.negative_prompt ?? ''}\nSteps: ${steps}, Sampler: ${p.sampler_name ?? 'Euler'}, CFG scale: ${p.cfg_scale ?? 7}, Seed: ${seed + i}, Size: ${p.width ?? 512}x${p.height ?? 512}, Model: tiny`;
        if (isImg2img) t += `, Denoising strength: ${p.denoising_strength ?? 0.75}`;
        infotexts.push(t);
        images.push(png(p.width ?? 64, p.height ?? 64, [(seed * 37 + i * 80) & 255, 90, 160], { parameters: t }).toString('base64'));
    }
    return { images, parameters: p, info: JSON.stringify({ prompt: p.prompt, all_seeds: infotexts.map((_, i) => seed + i), seed, infotexts }) };
}

async function runPrompt(id, prompt, clientId) {
    const ws = sockets.get(clientId);
    wsSend(ws, { type: 'execution_start', data: { prompt_id: id } });
    const out = {};
    for (const [nid, node] of Object.entries(prompt)) {
        wsSend(ws, { type: 'executing', data: { node: nid, prompt_id: id } });
        if (node.class_type === 'KSampler') {
            const steps = node.inputs.steps ?? 3;
            for (let s = 1; s <= steps; s++) {
                await sleep(100);
                wsSend(ws, { type: 'progress', data: { value: s, max: steps, node: nid, prompt_id: id } });
                const head = Buffer.alloc(8);
                head.writeUInt32BE(1, 0);
                head.writeUInt32BE(2, 4);
                wsSend(ws, Buffer.concat([head, png(32, 32, [s * 60, 40, 40])]));
            }
        }
        if (OBJECT_INFO[node.class_type]?.output_node) {
            const name = `sdc_${id.slice(0, 8)}_${nid}.png`;
            outputs.set(name, png(64, 64, [200, 120, 40], { prompt: JSON.stringify(prompt) }));
            out[nid] = { images: [{ filename: name, subfolder: '', type: 'output' }] };
            wsSend(ws, { type: 'executed', data: { node: nid, output: out[nid], prompt_id: id } });
        }
    }
    history[id] = { prompt: [0, id, prompt, {}, Object.keys(out)], outputs: out, status: { status_str: 'success', completed: true, messages: [] } };
    wsSend(ws, { type: 'executing', data: { node: null, prompt_id: id } });
    wsSend(ws, { type: 'status', data: { status: { exec_info: { queue_remaining: 0 } } } });
}

async function doodle(req, res) {
    const p = JSON.parse(await body(req));
    const me = Symbol('req');
    doodleLatest.set(p.client_id ?? '', me);
    const t0 = Date.now();
    await sleep(300 + Math.random() * 300);
    if (doodleLatest.get(p.client_id ?? '') !== me) return send(res, 409, { error: 'cancelled', detail: 'a newer request from this client replaced it' });
    const img = png(p.width ?? 256, p.height ?? 256, [Math.floor(Math.random() * 255), 140, 90]);
    send(res, 200, { image: img.toString('base64'), seconds: (Date.now() - t0) / 1000, frame_id: Date.now() });
}

async function api(req, res, url) {
    const p = url.pathname;
    if (p === '/sdapi/v1/sd-models') return send(res, 200, [{ title: 'tiny.safetensors [abc123]', model_name: 'tiny', hash: 'abc123', filename: '/models/tiny.safetensors' }]);
    if (p === '/sdapi/v1/options') return send(res, 200, req.method === 'POST' ? {} : { sd_model_checkpoint: 'tiny.safetensors [abc123]' });
    if (p === '/sdapi/v1/samplers') return send(res, 200, ['Euler a', 'Euler', 'DPM++ 2M', 'DDIM'].map((name) => ({ name, aliases: [], options: {} })));
    if (p === '/sdapi/v1/schedulers') return send(res, 200, ['automatic', 'karras', 'exponential'].map((name) => ({ name, label: name })));
    if (p === '/sdapi/v1/loras') return send(res, 200, [{ name: 'detail', alias: 'detail', path: '/models/loras/detail.safetensors' }]);
    if (p === '/sdapi/v1/progress') {
        const frac = progress.active ? progress.step / Math.max(1, progress.steps) : 0;
        const cur = progress.active && progress.step > 0 ? png(32, 32, [progress.step * 40, 200, 40]).toString('base64') : null;
        return send(res, 200, { progress: frac, eta_relative: 0, state: { sampling_step: progress.step, sampling_steps: progress.steps, job_count: progress.active ? 1 : 0 }, current_image: cur, textinfo: null });
    }
    if (p === '/sdapi/v1/interrupt') {
        progress.interrupted = true;
        return send(res, 200, {});
    }
    if (p === '/sdapi/v1/txt2img' || p === '/sdapi/v1/img2img') return send(res, 200, await txt2img(JSON.parse(await body(req)), p.endsWith('img2img')));
    if (p === '/sdc/v1/info') return send(res, 200, { models: ['tiny.safetensors'], loras: ['detail'], controlnets: ['control_canny.safetensors'], samplers: ['euler'], schedulers: ['normal'], taesd: true });
    if (p === '/sdc/v1/doodle') return doodle(req, res);
    if (p === '/object_info') return send(res, 200, OBJECT_INFO);
    if (p === '/prompt' && req.method === 'POST') {
        const b = JSON.parse(await body(req));
        const bad = Object.entries(b.prompt).find(([, n]) => n.class_type === 'CheckpointLoaderSimple' && n.inputs.ckpt_name !== 'tiny.safetensors');
        if (bad) {
            const e = { type: 'value_not_in_list', message: 'Value not in list', details: `ckpt_name: '${bad[1].inputs.ckpt_name}' not in list` };
            return send(res, 400, { error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details: '' }, node_errors: { [bad[0]]: { errors: [e], class_type: 'CheckpointLoaderSimple' } } });
        }
        const id = crypto.randomUUID();
        runPrompt(id, b.prompt, b.client_id);
        return send(res, 200, { prompt_id: id, number: 0, node_errors: {} });
    }
    if (p.startsWith('/history')) {
        const id = p.split('/')[2];
        return send(res, 200, id ? (history[id] ? { [id]: history[id] } : {}) : history);
    }
    if (p === '/view') {
        const f = outputs.get(url.searchParams.get('filename'));
        return f ? send(res, 200, f, 'image/png') : send(res, 404, { error: 'not found' });
    }
    if (p === '/interrupt' || p === '/queue') return send(res, 200, { queue_running: [], queue_pending: [] });
    return null;
}

const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    try {
        if ((await api(req, res, url)) !== null) return;
    } catch (e) {
        return send(res, 500, { error: String(e) });
    }
    const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname).replace(/^\/+/, '');
    const file = path.join(ROOT, rel);
    if (!file.startsWith(ROOT) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) return send(res, 404, 'not found', 'text/plain');
    send(res, 200, fs.readFileSync(file), MIME[path.extname(file)] ?? 'application/octet-stream');
});

server.on('upgrade', (req, socket) => {
    const url = new URL(req.url, 'http://x');
    const key = req.headers['sec-websocket-key'];
    const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const id = url.searchParams.get('clientId') ?? crypto.randomUUID();
    sockets.set(id, socket);
    wsSend(socket, { type: 'status', data: { status: { exec_info: { queue_remaining: 0 } }, sid: id } });
    socket.on('data', () => {});
    socket.on('error', () => {});
});

const port = Number(process.argv[2] ?? 8188);
server.listen(port, '127.0.0.1', () => console.log(`mock sdc serve on http://127.0.0.1:${port}/`));
