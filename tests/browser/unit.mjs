// Unit tests of the web UI's pure modules (no browser, no server), run with Node's test runner:
// PNG text chunks (web/js/png.js), A1111 infotext parsing (infotext.js) and ComfyUI workflow
// conversion (workflow.js). PNGs are built here with zlib and a CRC written from the PNG
// specification, so the parser is checked against bytes it did not make.
// Usage: node --test tests/browser/unit.mjs   (or plain `node tests/browser/unit.mjs`)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { readPngText, base64ToBytes, bytesToBase64 } from '../../web/js/png.js';
import { parseInfotext, infotextToSettings } from '../../web/js/infotext.js';
import { apiToWorkflow, defaultPrompt, isApiPrompt, isUiWorkflow, nodeSpec, workflowToApi, nextSeed } from '../../web/js/workflow.js';

// --- PNG building (independent of png.js) ---
const CRC = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
});
function crc32(buf) {
    let c = 0xffffffff;
    for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'latin1');
    data.copy(out, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
}
function png(chunks) {
    const ihdr = Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
    const idat = zlib.deflateSync(Buffer.from([0, 0]));
    return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), ...chunks, chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}
const tEXt = (k, v, enc = 'latin1') => chunk('tEXt', Buffer.concat([Buffer.from(`${k}\0`, 'latin1'), Buffer.from(v, enc)]));
const zTXt = (k, v) => chunk('zTXt', Buffer.concat([Buffer.from(`${k}\0\0`, 'latin1'), zlib.deflateSync(Buffer.from(v, 'latin1'))]));
const iTXt = (k, v, compress) => {
    const body = compress ? zlib.deflateSync(Buffer.from(v, 'utf8')) : Buffer.from(v, 'utf8');
    return chunk('iTXt', Buffer.concat([Buffer.from(`${k}\0`, 'latin1'), Buffer.from([compress ? 1 : 0, 0]), Buffer.from('en\0\0', 'latin1'), body]));
};

test('png: tEXt, zTXt, iTXt (plain and compressed) are read', async () => {
    const workflow = JSON.stringify({ nodes: [], links: [] });
    const bytes = png([tEXt('parameters', 'a cat\nSteps: 3, Seed: 1, Size: 64x64'), zTXt('prompt', '{"3":{}}'), iTXt('workflow', workflow, true), iTXt('title', 'Füchse 🦊', false)]);
    const t = await readPngText(bytes);
    assert.equal(t.parameters, 'a cat\nSteps: 3, Seed: 1, Size: 64x64');
    assert.equal(t.prompt, '{"3":{}}');
    assert.equal(t.workflow, workflow);
    assert.equal(t.title, 'Füchse 🦊');
});

test('png: Latin-1 tEXt is decoded as Latin-1, UTF-8 tEXt as UTF-8', async () => {
    const t = await readPngText(png([tEXt('a', 'caf\u00e9', 'latin1'), tEXt('b', 'caf\u00e9', 'utf8')]));
    assert.equal(t.a, 'café');
    assert.equal(t.b, 'café');
});

test('png: first chunk of a key wins; damaged input is handled', async () => {
    assert.deepEqual(await readPngText(png([tEXt('k', 'one'), tEXt('k', 'two')])), { k: 'one' });
    await assert.rejects(readPngText(Buffer.from('GIF89a......')), /not a PNG/);
    const good = png([tEXt('k', 'v'), tEXt('later', 'x')]);
    // cut inside the second text chunk: the first one is still read
    const cut = good.subarray(0, good.indexOf(Buffer.from('later')) + 2);
    assert.deepEqual(await readPngText(cut), { k: 'v' });
    // a zTXt with broken deflate data is skipped, the rest still read
    const bad = chunk('zTXt', Buffer.from('z\0\0garbage', 'latin1'));
    assert.deepEqual(await readPngText(png([bad, tEXt('ok', 'yes')])), { ok: 'yes' });
});

test('png: base64 round trip', () => {
    const bytes = new Uint8Array(300).map((_, i) => (i * 7) & 255);
    const b64 = bytesToBase64(bytes);
    assert.equal(b64, Buffer.from(bytes).toString('base64'));
    assert.deepEqual(base64ToBytes(`data:image/png;base64,${b64}`), bytes);
});

// --- infotext ---
const INFOTEXT = 'a red fox, (snow:1.2)\nsecond line\nNegative prompt: blurry, ugly\nSteps: 3, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5.5, Seed: 1234, Size: 64x96, Model hash: abcdef12, Model: sd15-random-tiny, Denoising strength: 0.6, Lora hashes: "detail: 0123, x: 4567", Version: sdc';

test('infotext: prompt, negative prompt and quoted values', () => {
    const p = parseInfotext(INFOTEXT);
    assert.equal(p.prompt, 'a red fox, (snow:1.2)\nsecond line');
    assert.equal(p.negative_prompt, 'blurry, ugly');
    assert.equal(p.params.Sampler, 'DPM++ 2M');
    assert.equal(p.params['Lora hashes'], 'detail: 0123, x: 4567');
    assert.equal(p.params.Version, 'sdc');
});

test('infotext: settings for "reuse parameters"', () => {
    assert.deepEqual(infotextToSettings(INFOTEXT), {
        prompt: 'a red fox, (snow:1.2)\nsecond line', negative_prompt: 'blurry, ugly', steps: 3, sampler_name: 'DPM++ 2M',
        scheduler: 'Karras', cfg_scale: 5.5, seed: 1234, denoising_strength: 0.6, model: 'sd15-random-tiny', width: 64, height: 96,
    });
});

test('infotext: a last line with fewer than 3 pairs is prompt text', () => {
    const p = parseInfotext('photo\nstyle: noir, mood: dark');
    assert.equal(p.prompt, 'photo\nstyle: noir, mood: dark');
    assert.deepEqual(p.params, {});
    assert.deepEqual(parseInfotext(''), { prompt: '', negative_prompt: '', params: {} });
});

// --- workflows ---
const INFO = {
    CheckpointLoaderSimple: { input: { required: { ckpt_name: [['a.safetensors', 'b.safetensors']] } }, output: ['MODEL', 'CLIP', 'VAE'], output_name: ['MODEL', 'CLIP', 'VAE'], category: 'loaders' },
    CLIPTextEncode: { input: { required: { text: ['STRING', { multiline: true }], clip: ['CLIP'] } }, output: ['CONDITIONING'] },
    EmptyLatentImage: { input: { required: { width: ['INT', { default: 512, min: 16, step: 8 }], height: ['INT', { default: 512 }], batch_size: ['INT', { default: 1 }] } }, output: ['LATENT'] },
    KSampler: {
        input: { required: { model: ['MODEL'], seed: ['INT', { default: 0, control_after_generate: true }], steps: ['INT', { default: 20 }], cfg: ['FLOAT', { default: 8 }], sampler_name: [['euler', 'dpmpp_2m']], scheduler: ['COMBO', { options: ['normal', 'karras'] }], positive: ['CONDITIONING'], negative: ['CONDITIONING'], latent_image: ['LATENT'], denoise: ['FLOAT', { default: 1 }] } },
        output: ['LATENT'],
    },
    VAEDecode: { input: { required: { samples: ['LATENT'], vae: ['VAE'] } }, output: ['IMAGE'] },
    SaveImage: { input: { required: { images: ['IMAGE'], filename_prefix: ['STRING', { default: 'ComfyUI' }] } }, output: [], output_node: true },
};

test('workflow: nodeSpec orders widgets as ComfyUI saves them', () => {
    const s = nodeSpec(INFO.KSampler);
    assert.deepEqual(s.slots.map((x) => x.name), ['model', 'positive', 'negative', 'latent_image']);
    assert.deepEqual(s.widgets.map((x) => x.name), ['seed', 'control_after_generate', 'steps', 'cfg', 'sampler_name', 'scheduler', 'denoise']);
    assert.deepEqual(s.widgets.find((w) => w.name === 'scheduler').values, ['normal', 'karras']);
    assert.equal(nodeSpec(INFO.CLIPTextEncode).widgets[0].multiline, true);
    assert.equal(nodeSpec(INFO.SaveImage).outputNode, true);
});

test('workflow: default prompt -> UI format -> API format gives the prompt back', () => {
    const prompt = defaultPrompt(INFO, 99);
    assert.equal(prompt[4].inputs.ckpt_name, 'a.safetensors');
    assert.ok(isApiPrompt(prompt));
    const ui = apiToWorkflow(prompt, INFO);
    assert.ok(isUiWorkflow(ui) && !isApiPrompt(ui));
    assert.equal(ui.nodes.length, 7);
    assert.equal(ui.links.length, 9);
    const ks = ui.nodes.find((n) => n.id === 3);
    assert.deepEqual(ks.widgets_values, [99, 'fixed', 20, 8, 'euler', 'normal', 1]);
    const back = workflowToApi(ui, INFO);
    assert.deepEqual(back.errors, []);
    assert.deepEqual(back.prompt, JSON.parse(JSON.stringify(prompt)));
});

// A workflow as ComfyUI's editor saves it: a Reroute, a PrimitiveNode feeding the seed
// (a converted widget input), a bypassed node, a muted node and a Note.
const SAVED = {
    last_node_id: 12,
    last_link_id: 20,
    nodes: [
        { id: 4, type: 'CheckpointLoaderSimple', mode: 0, inputs: [], outputs: [{ name: 'MODEL', type: 'MODEL', links: [1] }, { name: 'CLIP', type: 'CLIP', links: [2, 3] }, { name: 'VAE', type: 'VAE', links: [4] }], widgets_values: ['b.safetensors'] },
        { id: 6, type: 'CLIPTextEncode', mode: 0, inputs: [{ name: 'clip', type: 'CLIP', link: 2 }], outputs: [{ name: 'CONDITIONING', type: 'CONDITIONING', links: [5] }], widgets_values: ['a fox'] },
        { id: 7, type: 'CLIPTextEncode', mode: 0, inputs: [{ name: 'clip', type: 'CLIP', link: 3 }], outputs: [{ name: 'CONDITIONING', type: 'CONDITIONING', links: [6] }], widgets_values: ['bad'] },
        { id: 5, type: 'EmptyLatentImage', mode: 0, inputs: [], outputs: [{ name: 'LATENT', type: 'LATENT', links: [7] }], widgets_values: [64, 96, 2] },
        { id: 10, type: 'PrimitiveNode', mode: 0, inputs: [], outputs: [{ name: 'INT', type: 'INT', links: [8] }], widgets_values: [4242, 'fixed'] },
        { id: 3, type: 'KSampler', mode: 0, inputs: [{ name: 'model', type: 'MODEL', link: 1 }, { name: 'positive', type: 'CONDITIONING', link: 5 }, { name: 'negative', type: 'CONDITIONING', link: 6 }, { name: 'latent_image', type: 'LATENT', link: 7 }, { name: 'seed', type: 'INT', widget: { name: 'seed' }, link: 8 }], outputs: [{ name: 'LATENT', type: 'LATENT', links: [9] }], widgets_values: [1, 'randomize', 3, 5.5, 'dpmpp_2m', 'karras', 0.9] },
        { id: 11, type: 'Reroute', mode: 0, inputs: [{ name: '', type: '*', link: 9 }], outputs: [{ name: '', type: 'LATENT', links: [10] }] },
        { id: 12, type: 'KSampler', mode: 4, inputs: [{ name: 'model', type: 'MODEL', link: null }, { name: 'latent_image', type: 'LATENT', link: 10 }], outputs: [{ name: 'LATENT', type: 'LATENT', links: [11] }], widgets_values: [0, 'fixed', 20, 8, 'euler', 'normal', 1] },
        { id: 8, type: 'VAEDecode', mode: 0, inputs: [{ name: 'samples', type: 'LATENT', link: 11 }, { name: 'vae', type: 'VAE', link: 4 }], outputs: [{ name: 'IMAGE', type: 'IMAGE', links: [12, 13] }], widgets_values: [] },
        { id: 9, type: 'SaveImage', mode: 0, inputs: [{ name: 'images', type: 'IMAGE', link: 12 }], outputs: [], widgets_values: ['fox'] },
        { id: 2, type: 'SaveImage', mode: 2, inputs: [{ name: 'images', type: 'IMAGE', link: 13 }], outputs: [], widgets_values: ['muted'] },
        { id: 1, type: 'Note', mode: 0, inputs: [], outputs: [], widgets_values: ['remember the milk'] },
    ],
    links: [
        [1, 4, 0, 3, 0, 'MODEL'], [2, 4, 1, 6, 0, 'CLIP'], [3, 4, 1, 7, 0, 'CLIP'], [4, 4, 2, 8, 1, 'VAE'], [5, 6, 0, 3, 1, 'CONDITIONING'],
        [6, 7, 0, 3, 2, 'CONDITIONING'], [7, 5, 0, 3, 3, 'LATENT'], [8, 10, 0, 3, 4, 'INT'], [9, 3, 0, 11, 0, 'LATENT'],
        [10, 11, 0, 12, 1, 'LATENT'], [11, 12, 0, 8, 0, 'LATENT'], [12, 8, 0, 9, 0, 'IMAGE'], [13, 8, 0, 2, 0, 'IMAGE'],
    ],
    groups: [],
    version: 0.4,
};

test('workflow: a saved ComfyUI workflow (reroute, primitive, bypass, mute, note) to API format', () => {
    const { prompt, errors } = workflowToApi(SAVED, INFO);
    assert.deepEqual(errors, []);
    assert.deepEqual(Object.keys(prompt).sort(), ['3', '4', '5', '6', '7', '8', '9']);
    assert.deepEqual(prompt[3].inputs, {
        seed: 4242, steps: 3, cfg: 5.5, sampler_name: 'dpmpp_2m', scheduler: 'karras', denoise: 0.9,
        model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0],
    });
    assert.deepEqual(prompt[8].inputs, { samples: ['3', 0], vae: ['4', 2] }); // through reroute + bypassed sampler
    assert.deepEqual(prompt[5].inputs, { width: 64, height: 96, batch_size: 2 });
    assert.deepEqual(prompt[9].inputs, { images: ['8', 0], filename_prefix: 'fox' });
});

test('workflow: unconnected required input is reported; links as objects are read', () => {
    const wf = structuredClone(SAVED);
    wf.nodes.find((n) => n.id === 9).inputs[0].link = null;
    assert.match(workflowToApi(wf, INFO).errors.join(), /node 9 \(SaveImage\): required input 'images'/);
    const objLinks = { ...SAVED, links: SAVED.links.map(([id, a, b, c, d, type]) => ({ id, origin_id: a, origin_slot: b, target_id: c, target_slot: d, type })) };
    assert.deepEqual(workflowToApi(objLinks, INFO).prompt, workflowToApi(SAVED, INFO).prompt);
});

test('workflow: API prompt with a linked widget input keeps the link in UI format', () => {
    const prompt = defaultPrompt(INFO, 1);
    const info = { ...INFO, IntConst: { input: { required: { value: ['INT', { default: 0 }] } }, output: ['INT'] } };
    prompt[10] = { class_type: 'IntConst', inputs: { value: 4 } };
    prompt[3].inputs.steps = ['10', 0];
    const ui = apiToWorkflow(prompt, info);
    const ks = ui.nodes.find((n) => n.id === 3);
    const slot = ks.inputs.findIndex((i) => i.widget?.name === 'steps');
    assert.ok(slot >= 0 && ks.inputs[slot].link != null, 'steps became a linked widget input');
    assert.deepEqual(ui.links.find((l) => l[0] === ks.inputs[slot].link), [ks.inputs[slot].link, 10, 0, 3, slot, 'INT']);
    assert.deepEqual(workflowToApi(ui, info).prompt, JSON.parse(JSON.stringify(prompt)));
    assert.throws(() => apiToWorkflow({ 1: { class_type: 'Nope', inputs: {} } }, INFO), /unknown node type 'Nope'/);
});

test('workflow: widgets missing from a saved node keep their defaults', () => {
    const wf = structuredClone(SAVED);
    delete wf.nodes.find((n) => n.id === 9).widgets_values; // SaveImage saved without values
    wf.nodes.find((n) => n.id === 5).widgets_values = [320]; // only the first of three
    const { prompt } = workflowToApi(wf, INFO);
    assert.deepEqual(prompt[9].inputs, { images: ['8', 0], filename_prefix: 'ComfyUI' });
    assert.deepEqual(prompt[5].inputs, { width: 320, height: 512, batch_size: 1 });
});

test('workflow: seed control after a run', () => {
    assert.equal(nextSeed(5, false), 5);
    const legacy = nextSeed(5, true, 0, 1e6);
    assert.ok(Number.isInteger(legacy) && legacy >= 0 && legacy < 1e6);
    assert.equal(nextSeed(5, 'fixed'), 5);
    assert.equal(nextSeed(5, 'increment'), 6);
    assert.equal(nextSeed(0, 'decrement', 0), 0);
    const r = nextSeed(5, 'randomize', 0, 1000);
    assert.ok(Number.isInteger(r) && r >= 0 && r < 1000);
});
