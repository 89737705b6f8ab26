// Browser tests of the web UI: starts `sdc serve` on a free loopback port with a temporary
// models folder (the tiny reference model + its yaml, the CLIP vocabulary), drives Debian's
// Chromium through playwright-core and checks the three views end to end:
//   settings  fill the form (64x64, 3 steps), Generate, an image + its parameters in the gallery
//   nodes     the default workflow, Queue Prompt, the running node shown, the output image
//   doodle    a stroke on the sketch canvas, a new frame of the right size
// Screenshots go to $WEBUI_ARTIFACTS (default build/webui-browser/). Exit codes: 0 pass,
// 1 fail, 77 Chromium could not start (the e2e wrapper reports SKIP).
// Usage: node tests/browser/run.mjs [--url http://127.0.0.1:PORT/] [--only settings,nodes,doodle]
//   --url  test a server that is already running (e.g. mock_server.mjs) instead of sdc serve
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, sleep } from './browser.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SDC = path.resolve(REPO, process.env.SDC_BIN ?? 'build/asan/sdc');
const SHARED = path.resolve(REPO, process.env.SDC_SHARED ?? '../shared');
const ARTIFACTS = path.resolve(REPO, process.env.WEBUI_ARTIFACTS ?? 'build/webui-browser');
const args = process.argv.slice(2);
const argOf = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);

function log(...a) {
    console.log(`[webui ${new Date().toISOString().slice(11, 19)}]`, ...a);
}

function modelsDir() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdc-webui-models-'));
    const model = path.join(SHARED, 'reference/model/sd15-random-tiny');
    fs.symlinkSync(`${model}.safetensors`, path.join(dir, 'sd15-random-tiny.safetensors'));
    fs.symlinkSync(`${model}.yaml`, path.join(dir, 'sd15-random-tiny.yaml'));
    // the same weights under a second name, for the model picker
    fs.symlinkSync(`${model}.safetensors`, path.join(dir, 'tiny-copy.safetensors'));
    fs.symlinkSync(`${model}.yaml`, path.join(dir, 'tiny-copy.yaml'));
    fs.symlinkSync(path.join(SHARED, 'clip/bpe_simple_vocab_16e6.txt.gz'), path.join(dir, 'bpe_simple_vocab_16e6.txt.gz'));
    // a LoRA made for the tiny model (tests/data/control) and the tiny TAESD (tests/data/taesd)
    fs.mkdirSync(path.join(dir, 'loras'));
    fs.symlinkSync(path.join(REPO, 'tests/data/control/lora_kohya.safetensors'), path.join(dir, 'loras/tiny_detail.safetensors'));
    fs.mkdirSync(path.join(dir, 'vae'));
    for (const f of ['taesd_decoder', 'taesd_encoder'])
        fs.symlinkSync(path.join(REPO, `tests/data/taesd/${f}.safetensors`), path.join(dir, `vae/${f}.safetensors`));
    return dir;
}

async function startServer() {
    if (!fs.existsSync(SDC)) throw new Error(`no sdc binary at ${SDC} (build it, or set SDC_BIN)`);
    const models = modelsDir();
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdc-webui-out-'));
    const portFile = path.join(outDir, 'port');
    const argv = ['serve', '--host', '127.0.0.1', '--port', '0', '--port-file', portFile, '--models-dir', models,
        '--output-dir', path.join(outDir, 'output'), '--input-dir', path.join(outDir, 'input'), '--temp-dir', path.join(outDir, 'temp'),
        '--web-dir', path.join(REPO, 'web')];
    log('starting', SDC, argv.join(' '));
    const logFile = path.join(ARTIFACTS, 'server.log');
    const out = fs.openSync(logFile, 'w');
    // its own model-hash cache, so titles do not depend on earlier runs
    const env = { ...process.env, ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'detect_leaks=0', XDG_CACHE_HOME: path.join(outDir, 'cache') };
    const child = spawn(SDC, argv, { stdio: ['ignore', out, out], env });
    let url = null;
    const t0 = Date.now();
    while (Date.now() - t0 < 30000) {
        if (child.exitCode !== null) throw new Error(`sdc serve exited with ${child.exitCode}:\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
        const port = fs.existsSync(portFile) ? fs.readFileSync(portFile, 'utf8').trim() : '';
        if (/^\d+$/.test(port)) {
            url = `http://127.0.0.1:${port}/`;
            const res = await fetch(`${url}sdc/v1/info`).catch(() => null);
            if (res?.ok) break;
        }
        await sleep(200);
    }
    if (!url) throw new Error(`sdc serve did not start listening within 30 s:\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    const stop = async () => {
        if (child.exitCode === null) {
            child.kill('SIGTERM');
            for (let i = 0; i < 50 && child.exitCode === null; i++) await sleep(100);
            if (child.exitCode === null) child.kill('SIGKILL');
        }
        fs.rmSync(models, { recursive: true, force: true });
        fs.rmSync(outDir, { recursive: true, force: true });
    };
    return { url, stop, logFile };
}

function check(cond, what) {
    if (!cond) throw new Error(`check failed: ${what}`);
}

async function testSettings(page, url) {
    await page.goto(`${url}#settings`);
    await page.waitForFunction(() => document.querySelector('#sampler_name').options.length > 0 && document.querySelector('#model').options.length > 0, null, { timeout: 15000 });
    // the model picker switches the server's checkpoint through /sdapi/v1/options
    const title = await page.$eval('#model', (sel) => [...sel.options].find((o) => o.textContent === 'tiny-copy')?.value);
    check(!!title, 'the model picker lists both checkpoints');
    const [opt] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/sdapi/v1/options') && r.request().method() === 'POST'),
        page.selectOption('#model', title),
    ]);
    check(opt.ok(), `POST /sdapi/v1/options succeeded (HTTP ${opt.status()})`);
    const current = await (await fetch(new URL('sdapi/v1/options', url))).json();
    // loading hashes the file, so the title gains A1111's " [hash]" suffix
    const bare = (t) => t.replace(/ \[[0-9a-f]{10}\]$/, '');
    check(bare(current.sd_model_checkpoint) === bare(title) && /\[[0-9a-f]{10}\]$/.test(current.sd_model_checkpoint),
        `the server's checkpoint is now ${title} [hash] (got ${current.sd_model_checkpoint})`);
    await page.fill('#prompt', 'a red fox in the snow');
    // the LoRA picker lists the models folder's LoRA and writes A1111's tag into the prompt
    await page.click('summary:has-text("LoRA")');
    await page.selectOption('#lora-pick', 'tiny_detail');
    await page.click('#lora-add');
    const prompt = await page.inputValue('#prompt');
    check(prompt === 'a red fox in the snow <lora:tiny_detail:1>', `LoRA tag inserted (got '${prompt}')`);
    await page.fill('#negative_prompt', 'blurry');
    for (const [id, v] of [['#width', '64'], ['#height', '64'], ['#steps', '3'], ['#seed', '1234'], ['#cfg_scale', '5']]) await page.fill(id, v);
    await page.click('#generate');
    const card = page.locator('#gallery li').first();
    await card.waitFor({ timeout: 60000 });
    const err = await page.textContent('#gen-error');
    check(!err, `no error shown (got '${err}')`);
    const size = await card.locator('img').evaluate((img) => (img.complete ? [img.naturalWidth, img.naturalHeight] : null));
    check(size && size[0] === 64 && size[1] === 64, `gallery image is 64x64 (got ${size})`);
    const info = await card.locator('.infotext').textContent();
    for (const s of [prompt, 'Negative prompt: blurry', 'Steps: 3', 'Seed: 1234', 'Size: 64x64', 'CFG scale: 5', 'Model: tiny-copy'])
        check(info.includes(s), `infotext contains '${s}' (got '${info}')`);
    await page.fill('#seed', '-1');
    await card.getByRole('button', { name: 'Reuse seed' }).click();
    check((await page.inputValue('#seed')) === '1234', 'reuse seed puts 1234 back');
    await page.fill('#steps', '20');
    await page.fill('#prompt', 'something else');
    await card.getByRole('button', { name: 'Reuse parameters' }).click();
    check((await page.inputValue('#steps')) === '3', 'reuse parameters restores steps');
    check((await page.inputValue('#prompt')) === prompt, 'reuse parameters restores the prompt');
    log('settings: image 64x64 with parameters:', JSON.stringify(info.split('\n').pop()));
    // the PNG itself carries the parameters: dropped on the form it fills it in ("PNG info")
    await page.fill('#prompt', 'changed');
    await page.fill('#seed', '5');
    const drop = await page.evaluateHandle(async (src) => {
        const dt = new DataTransfer();
        dt.items.add(new File([await (await fetch(src)).blob()], 'gen.png', { type: 'image/png' }));
        return dt;
    }, await card.locator('img').getAttribute('src'));
    await page.dispatchEvent('#gen-form', 'drop', { dataTransfer: drop });
    await page.waitForFunction(() => document.getElementById('prompt').value !== 'changed', null, { timeout: 5000 });
    check((await page.inputValue('#prompt')) === prompt && (await page.inputValue('#seed')) === '1234', 'a dropped PNG restores prompt and seed');
    await testInpaint(page, Buffer.from((await card.locator('img').getAttribute('src')).split(',')[1], 'base64'));
    // the same image with the LoRA at weight 0: the weight-1 image must differ, so the LoRA acted
    await page.check('input[name=mode][value=txt2img]');
    await page.fill('#prompt', prompt.replace(':1>', ':0>'));
    await page.fill('#seed', '1234');
    await page.click('#generate');
    await page.waitForFunction(() => document.querySelectorAll('#gallery li').length === 4 || document.getElementById('gen-error').textContent, null, { timeout: 60000 });
    const srcs = await page.$$eval('#gallery li img', (els) => els.map((e) => e.src));
    check(srcs.length === 4 && srcs[0] !== srcs[3], 'the LoRA at weight 1 changes the image (same seed, weight 0)');
    // hires fix: twice the size, A1111's hires keys in the infotext
    await page.click('summary:has-text("Hires. fix")');
    await page.check('#enable_hr');
    await page.fill('#hr_second_pass_steps', '2');
    await page.click('#generate');
    await page.waitForFunction(() => document.querySelectorAll('#gallery li').length === 5 || document.getElementById('gen-error').textContent, null, { timeout: 60000 });
    const hr = page.locator('#gallery li').first();
    const hrSize = await hr.locator('img').evaluate((img) => new Promise((res) => (img.complete ? res([img.naturalWidth, img.naturalHeight]) : (img.onload = () => res([img.naturalWidth, img.naturalHeight])))));
    check(hrSize[0] === 128 && hrSize[1] === 128, `hires image is 128x128 (got ${hrSize})`);
    const hrInfo = await hr.locator('.infotext').textContent();
    check(hrInfo.includes('Hires upscale: 2, Hires steps: 2, Hires upscaler: Latent'), `hires infotext (got '${hrInfo}')`);
    await page.uncheck('#enable_hr');
    await page.screenshot({ path: path.join(ARTIFACTS, 'settings.png'), fullPage: true });
}

// Inpaint the image just made: upload it as the init image, paint a mask with the mouse.
async function testInpaint(page, pngBytes) {
    await page.check('input[name=mode][value=inpaint]');
    await page.setInputFiles('#init-file', { name: 'init.png', mimeType: 'image/png', buffer: pngBytes });
    await page.waitForFunction(() => document.getElementById('init-canvas').width === 64, null, { timeout: 10000 });
    await page.click('#generate');
    await page.waitForFunction(() => document.getElementById('gen-error').textContent, null, { timeout: 5000 });
    check(/paint the area/.test(await page.textContent('#gen-error')), 'an empty mask is refused before sending');
    const box = await page.locator('#mask-canvas').boundingBox();
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.5, { steps: 8 });
    await page.mouse.up();
    check(!(await page.evaluate(() => window.sdcApp.settings.state.painter.isEmpty())), 'the mouse painted the mask');
    await page.locator('#denoising_strength').evaluate((el) => {
        el.value = '0.5';
        el.dispatchEvent(new Event('input'));
    });
    await page.click('#generate');
    await page.waitForFunction(() => document.querySelectorAll('#gallery li').length === 2 || document.getElementById('gen-error').textContent, null, { timeout: 60000 });
    const err = await page.textContent('#gen-error');
    check(!err, `inpaint gave no error (got '${err}')`);
    const info = await page.locator('#gallery li').first().locator('.infotext').textContent();
    check(info.includes('Denoising strength: 0.5'), `inpaint infotext has the strength (got '${info}')`);
    log('settings: inpaint with a painted mask:', JSON.stringify(info.split('\n').pop()));
    // "Only masked" painted at 128x128: the 64x64 picture keeps its size (whole-picture mode would give 128x128)
    await page.selectOption('#inpaint_area', 'masked');
    await page.fill('#inpaint_padding', '4');
    for (const [id, v] of [['#width', '128'], ['#height', '128']]) await page.fill(id, v);
    await page.click('#generate');
    await page.waitForFunction(() => document.querySelectorAll('#gallery li').length === 3 || document.getElementById('gen-error').textContent, null, { timeout: 60000 });
    const om = page.locator('#gallery li').first();
    const omSize = await om.locator('img').evaluate((img) => new Promise((res) => (img.complete ? res([img.naturalWidth, img.naturalHeight]) : (img.onload = () => res([img.naturalWidth, img.naturalHeight])))));
    check(omSize[0] === 64 && omSize[1] === 64, `only-masked image keeps the picture's 64x64 (got ${omSize})`);
    const omInfo = await om.locator('.infotext').textContent();
    check(omInfo.includes('Inpaint area: Only masked, Masked area padding: 4'), `only-masked infotext (got '${omInfo}')`);
    await page.selectOption('#inpaint_area', 'whole');
    for (const [id, v] of [['#width', '64'], ['#height', '64']]) await page.fill(id, v);
}

async function setWidget(page, nodeId, name, value) {
    await page.evaluate((id) => window.sdcApp.nodes.select(id), nodeId);
    const field = page.locator(`#node-inspector [name="${name}"]`);
    await field.fill(String(value));
    await field.dispatchEvent('change');
}

async function testNodes(page, url) {
    await page.goto(`${url}#nodes`);
    await page.evaluate(() => localStorage.clear());
    await page.waitForFunction(() => window.sdcApp?.nodes, null, { timeout: 15000 });
    await page.click('#wf-default');
    const count = await page.evaluate(() => window.sdcApp.nodes.editor.graph._nodes.length);
    check(count === 7, `default workflow has 7 nodes (got ${count})`);
    await setWidget(page, 5, 'width', 64);
    await setWidget(page, 5, 'height', 64);
    await setWidget(page, 3, 'steps', 3);
    await setWidget(page, 3, 'seed', 77);
    await setWidget(page, 6, 'text', 'a lighthouse at dusk');
    await page.evaluate(() => {
        window.__statuses = [];
        new MutationObserver(() => window.__statuses.push(document.getElementById('wf-status').textContent)).observe(document.getElementById('wf-status'), { childList: true, characterData: true, subtree: true });
        window.__previews = 0;
        new MutationObserver(() => window.__previews++).observe(document.getElementById('wf-preview'), { attributes: true, attributeFilter: ['src'] });
    });
    await page.click('#wf-queue');
    const img = page.locator('#wf-outputs img').first();
    await img.waitFor({ timeout: 60000 });
    await page.waitForFunction(() => /^Done/.test(document.getElementById('wf-status').textContent), null, { timeout: 30000 });
    await page.waitForFunction(() => [...document.querySelectorAll('#wf-outputs img')].every((i) => i.complete), null, { timeout: 10000 });
    const size = await img.evaluate((i) => [i.naturalWidth, i.naturalHeight]);
    check(size[0] === 64 && size[1] === 64, `output image is 64x64 (got ${size})`);
    const statuses = await page.evaluate(() => window.__statuses);
    check(statuses.some((s) => s.startsWith('Running:')), `the running node was shown (statuses: ${statuses.join(' | ')})`);
    const previews = await page.evaluate(() => window.__previews);
    check(previews >= 1, 'binary preview frames from the socket were shown');
    await page.screenshot({ path: path.join(ARTIFACTS, 'nodes.png') });
    log('nodes: output', await img.getAttribute('src'), `; ${previews} preview frames; statuses:`, [...new Set(statuses)].join(' | '));
    await testWorkflowFromPng(page, url, await img.getAttribute('src'));
    await testUpload(page, url, Buffer.from(await (await fetch(new URL(await img.getAttribute('src'), url))).arrayBuffer()));
    await testNodeError(page);
    await testEditorOnlyNodes(page);
}

// A UI-format workflow as ComfyUI's editor saves them, with a Note, a Reroute, a PrimitiveNode
// driving the seed, a bypassed and a muted node (tests/browser/fixtures/editor_nodes.json):
// the prompt sent holds just what ComfyUI would run, and it runs.
async function testEditorOnlyNodes(page) {
    const file = path.join(REPO, 'tests/browser/fixtures/editor_nodes.json');
    await page.setInputFiles('#wf-file', file);
    await page.waitForFunction(() => /^Loaded editor_nodes\.json\.$/.test(document.getElementById('wf-status').textContent), null, { timeout: 5000 })
        .catch(async () => check(false, `fixture loads cleanly (status '${await page.textContent('#wf-status')}')`));
    const [req] = await Promise.all([page.waitForRequest((r) => r.url().endsWith('/prompt') && r.method() === 'POST'), page.click('#wf-queue')]);
    const sent = req.postDataJSON().prompt;
    check(JSON.stringify(Object.keys(sent).sort()) === JSON.stringify(['3', '4', '5', '6', '7', '8', '9']), `only runnable nodes are sent (got ${Object.keys(sent)})`);
    check(sent['3'].inputs.seed === 4242 && sent['3'].inputs.steps === 2, `the primitive's seed is inlined (got ${JSON.stringify(sent['3'].inputs)})`);
    check(JSON.stringify(sent['8'].inputs.samples) === '["3",0]', `the decode reads the sampler through reroute and bypass (got ${JSON.stringify(sent['8'].inputs)})`);
    await page.waitForFunction(() => /^(Done|Error|The run failed)/.test(document.getElementById('wf-status').textContent), null, { timeout: 60000 });
    const status = await page.textContent('#wf-status');
    check(status.startsWith('Done'), `the workflow ran (status '${status}')`);
    check((await page.locator('#wf-outputs img').count()) === 1, 'one output image (the muted preview does not run)');
    await page.screenshot({ path: path.join(ARTIFACTS, 'nodes-editor-only.png') });
    log('nodes: editor-only nodes (note, reroute, primitive, bypass, mute):', status);
}

// LoadImage's file picker in the node panel uploads through /upload/image and selects the file.
async function testUpload(page, url, bytes) {
    const id = await page.evaluate(async () => {
        const { LiteGraph } = await import('/vendor/litegraph/litegraph.es.js');
        const node = LiteGraph.createNode('LoadImage');
        node.pos = [40, 700];
        window.sdcApp.nodes.editor.graph.add(node);
        window.sdcApp.nodes.select(node.id);
        return node.id;
    });
    await page.setInputFiles('#node-inspector input[type=file]', { name: 'webui_upload.png', mimeType: 'image/png', buffer: bytes });
    await page.waitForFunction((nid) => window.sdcApp.nodes.editor.graph.getNodeById(nid).widgets[0].value === 'webui_upload.png', id, { timeout: 10000 });
    const back = Buffer.from(await (await fetch(new URL('view?filename=webui_upload.png&type=input', url))).arrayBuffer());
    check(back.equals(bytes), 'the uploaded image is served back unchanged from input/');
    log('nodes: image uploaded from the node panel');
}

// A value the server refuses (a checkpoint that does not exist): the run is not queued, the
// status line says why and the node gets the error outline.
async function testNodeError(page) {
    await page.click('#wf-default');
    await page.evaluate(() => {
        const n = window.sdcApp.nodes.editor.graph.getNodeById(4);
        n.widgets.find((w) => w.name === 'ckpt_name').value = 'no-such-model.safetensors';
    });
    await page.click('#wf-queue');
    await page.waitForFunction(() => /^Queue failed/.test(document.getElementById('wf-status').textContent), null, { timeout: 10000 });
    const marked = await page.evaluate(() => window.sdcApp.nodes.editor.graph._nodes.filter((n) => n.has_errors).map((n) => n.id));
    check(marked.length === 1 && marked[0] === 4, `the checkpoint loader is marked (got ${JSON.stringify(marked)})`);
    log('nodes: refused graph:', await page.textContent('#wf-status'));
}

// The output PNG of a run carries its workflow (as ComfyUI's do): dropping that PNG on the
// canvas must give the same graph back.
async function testWorkflowFromPng(page, url, src) {
    const bytes = Buffer.from(await (await fetch(new URL(src, url))).arrayBuffer());
    await page.click('#wf-clear');
    const drop = await page.evaluateHandle((b64) => {
        const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([data], 'run.png', { type: 'image/png' }));
        return dt;
    }, bytes.toString('base64'));
    await page.dispatchEvent('#graph-wrap', 'drop', { dataTransfer: drop });
    await page.waitForFunction(() => /^Loaded run\.png/.test(document.getElementById('wf-status').textContent), null, { timeout: 10000 });
    const n = await page.evaluate(() => window.sdcApp.nodes.editor.graph._nodes.length);
    check(n === 7, `workflow from the output PNG has 7 nodes (got ${n})`);
    const steps = await page.evaluate(() => window.sdcApp.nodes.editor.graph.getNodeById(3).widgets.find((w) => w.name === 'steps').value);
    check(steps === 3, `workflow from the PNG keeps steps 3 (got ${steps})`);
    log('nodes: workflow loaded back from the output PNG dropped on the canvas');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#wf-save-api')]);
    const saved = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
    check(saved['3']?.class_type === 'KSampler' && saved['3'].inputs.steps === 3 && saved['5'].inputs.width === 64,
        `Save (API format) writes the graph (got ${JSON.stringify(saved['3'])})`);
}

async function testDoodle(page, url) {
    await page.goto(`${url}#doodle`);
    await page.waitForFunction(() => window.sdcApp?.doodle, null, { timeout: 15000 });
    await page.selectOption('#dd-size', '256');
    await page.fill('#dd-steps', '2');
    await page.locator('#dd-steps').dispatchEvent('change');
    const box = await page.locator('#dd-canvas').boundingBox();
    const before = await page.evaluate(() => window.sdcApp.doodle.frames);
    await page.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.3);
    await page.mouse.down();
    for (let i = 1; i <= 12; i++) await page.mouse.move(box.x + box.width * (0.2 + i * 0.05), box.y + box.height * (0.3 + 0.3 * Math.sin(i / 3)), { steps: 2 });
    await page.mouse.up();
    const t0 = Date.now();
    await page.waitForFunction((n) => window.sdcApp.doodle.frames > n, before, { timeout: 60000 });
    const ms = Date.now() - t0;
    const ink = await page.evaluate(() => {
        const c = document.getElementById('dd-canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] < 200) n++;
        return n;
    });
    check(ink > 100, `the stroke is on the canvas (${ink} dark pixels)`);
    await page.waitForFunction(() => document.getElementById('dd-output').complete, null, { timeout: 10000 });
    const size = await page.locator('#dd-output').evaluate((i) => [i.naturalWidth, i.naturalHeight]);
    check(size[0] === 256 && size[1] === 256, `doodle frame is 256x256 (got ${size})`);
    const status = await page.textContent('#dd-status');
    check(/^Frame \d+ in [\d.]+ s/.test(status), `frame time shown (got '${status}')`);
    // a stroke, and while its frame is being made another one: the stale request is dropped
    // (aborted here, cancelled by the server) and the last sketch's frame ends on screen
    const stroke = async (y) => {
        await page.mouse.move(box.x + box.width * 0.1, box.y + box.height * y);
        await page.mouse.down();
        await page.mouse.move(box.x + box.width * 0.9, box.y + box.height * y, { steps: 6 });
        await page.mouse.up();
    };
    await stroke(0.7);
    await page.waitForFunction(() => window.sdcApp.doodle.inflight, null, { timeout: 10000 });
    const t1 = Date.now();
    await stroke(0.8);
    await page.waitForFunction(() => {
        const d = window.sdcApp.doodle;
        return !d.dirty && !d.inflight && d.shownSeq === d.seq;
    }, null, { timeout: 60000 });
    const ms2 = Date.now() - t1;
    const d = await page.evaluate(() => ({ frames: window.sdcApp.doodle.frames, seq: window.sdcApp.doodle.seq, dropped: window.sdcApp.doodle.dropped }));
    check(d.dropped >= 1, `the stale request was dropped (${JSON.stringify(d)})`);
    check(d.frames === 2 && d.seq === 3, `only the first and the last sketch were shown (${JSON.stringify(d)})`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'doodle.png') });
    // the frame goes on to img2img in the Generate view
    await page.click('#dd-send');
    await page.waitForFunction(() => document.getElementById('init-canvas').width === 256, null, { timeout: 10000 });
    check(await page.isChecked('input[name=mode][value=img2img]') && await page.isVisible('#view-settings'), 'To img2img opens the frame in img2img');
    log(`doodle: first frame ${ms} ms after the stroke; last frame ${ms2} ms after the last stroke; ${JSON.stringify(d)}; status '${await page.textContent('#dd-status')}'`);
}

const TESTS = { settings: testSettings, nodes: testNodes, doodle: testDoodle };

async function main() {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const only = (argOf('--only') ?? Object.keys(TESTS).join(',')).split(',');
    let browser;
    try {
        browser = await launchBrowser();
    } catch (err) {
        console.log(`SKIP: Chromium cannot start: ${err.message.split('\n')[0]}`);
        return 77;
    }
    let server = null;
    let failed = 0;
    try {
        server = argOf('--url') ? { url: argOf('--url'), stop: async () => {} } : await startServer();
        for (const name of only) {
            const page = await browser.context.newPage();
            const errors = [];
            page.on('pageerror', (e) => errors.push(String(e)));
            // the UI must need nothing but the sdc server (no CDN, no fonts from elsewhere)
            const origin = new URL(server.url).origin;
            page.on('request', (r) => {
                const u = r.url();
                if (!u.startsWith(`${origin}/`) && !/^(data|blob):/.test(u)) errors.push(`request outside the server: ${u}`);
            });
            const t0 = Date.now();
            try {
                await TESTS[name](page, server.url);
                if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
                console.log(`ok   browser/${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
            } catch (err) {
                failed++;
                console.log(`FAIL browser/${name}: ${err.message}`);
                await page.screenshot({ path: path.join(ARTIFACTS, `${name}-failed.png`), fullPage: true }).catch(() => {});
            }
            await page.close();
        }
    } catch (err) {
        failed++;
        console.log(`FAIL browser: ${err.message}`);
    } finally {
        await server?.stop();
        await browser.close();
    }
    if (failed && server?.logFile) console.log(`server log: ${server.logFile}`);
    console.log(`screenshots: ${ARTIFACTS}`);
    return failed ? 1 : 0;
}

process.exit(await main());
