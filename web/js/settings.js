// The settings-form view ("Generate" tab): txt2img / img2img / inpaint through A1111's API
// (/sdapi/v1/txt2img, /img2img, /progress, /interrupt, /options), with model, sampler,
// scheduler, LoRA and ControlNet pickers, a live preview while sampling, and a gallery whose
// cards show each image's infotext with "reuse seed" / "reuse parameters". Not here: the mask
// painter (mask.js) and infotext parsing (infotext.js).
import { api, apiOr, blobToBase64, names } from './api.js';
import { infotextToSettings } from './infotext.js';
import { MaskPainter } from './mask.js';
import { imageSrc, readPngText } from './png.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 500;
const state = { busy: false, painter: null, cnImage: null, schedulers: [], models: [] };

function fillSelect(sel, items, selected) {
    sel.replaceChildren(
        ...items.map(({ value, label }) => {
            const o = document.createElement('option');
            o.value = value;
            o.textContent = label ?? value;
            return o;
        }),
    );
    if (selected !== undefined && items.some((i) => i.value === selected)) sel.value = selected;
}

async function loadLists() {
    const [models, options, samplers, schedulers, loras, info] = await Promise.all([
        apiOr('/sdapi/v1/sd-models', []),
        apiOr('/sdapi/v1/options', {}),
        apiOr('/sdapi/v1/samplers', []),
        apiOr('/sdapi/v1/schedulers', []),
        apiOr('/sdapi/v1/loras', []),
        apiOr('/sdc/v1/info', {}),
    ]);
    state.models = Array.isArray(models) ? models : [];
    fillSelect($('model'), state.models.map((m) => ({ value: m.title, label: m.model_name ?? m.title })), options?.sd_model_checkpoint);
    fillSelect($('sampler_name'), names(samplers, 'name').map((value) => ({ value })), 'Euler a');
    state.schedulers = Array.isArray(schedulers) ? schedulers : [];
    const sch = state.schedulers.map((s) => (typeof s === 'string' ? { value: s } : { value: s.name, label: s.label ?? s.name }));
    fillSelect($('scheduler'), sch, 'automatic');
    fillSelect($('lora-pick'), names(loras, 'name', 'alias').map((value) => ({ value })));
    $('lora-add').disabled = $('lora-pick').options.length === 0;
    let cns = names(info?.controlnets, 'name', 'title', 'model_name');
    if (cns.length === 0) cns = names((await apiOr('/controlnet/model_list', {}))?.model_list);
    fillSelect($('cn-model'), cns.map((value) => ({ value })));
}

function mode() {
    return document.querySelector('input[name=mode]:checked').value;
}

function onModeChange() {
    const m = mode();
    $('init-box').hidden = m === 'txt2img';
    $('mask-tools').hidden = m !== 'inpaint';
    $('mask-canvas').hidden = m !== 'inpaint';
    state.painter.enabled = m === 'inpaint';
}

function numberOf(id) {
    return Number($(id).value);
}

function basePayload() {
    return {
        prompt: $('prompt').value,
        negative_prompt: $('negative_prompt').value,
        sampler_name: $('sampler_name').value,
        scheduler: $('scheduler').value,
        steps: numberOf('steps'),
        cfg_scale: numberOf('cfg_scale'),
        width: numberOf('width'),
        height: numberOf('height'),
        seed: numberOf('seed'),
        batch_size: numberOf('batch_size'),
        n_iter: numberOf('n_iter'),
        send_images: true,
        save_images: false,
    };
}

async function buildPayload() {
    const m = mode();
    const p = basePayload();
    if (m !== 'txt2img') {
        if (!state.painter.hasImage) throw new Error('choose an init image first');
        p.init_images = [await state.painter.imageBase64()];
        p.denoising_strength = numberOf('denoising_strength');
    }
    if (m === 'txt2img' && $('enable_hr').checked) { // A1111's hires fix fields
        p.enable_hr = true;
        p.hr_upscaler = $('hr_upscaler').value;
        p.hr_scale = numberOf('hr_scale');
        p.hr_second_pass_steps = numberOf('hr_second_pass_steps');
        p.denoising_strength = numberOf('hr_denoise');
    }
    if (m === 'inpaint') {
        if (state.painter.isEmpty()) throw new Error('paint the area to repaint on the image first');
        p.mask = await state.painter.maskBase64();
        p.mask_blur = numberOf('mask_blur');
        p.inpainting_fill = 1;
        // "Only masked": the picture keeps its size, Width x Height is the size the masked part is painted at
        p.inpaint_full_res = $('inpaint_area').value === 'masked';
        p.inpaint_full_res_padding = numberOf('inpaint_padding');
        p.inpainting_mask_invert = 0;
    }
    if ($('cn-enabled').checked) {
        // without a control image A1111 takes the img2img input, so only txt2img needs one
        if (!state.cnImage && m === 'txt2img') throw new Error('choose a ControlNet control image first');
        if (!$('cn-model').value) throw new Error('no ControlNet model is installed');
        const unit = { enabled: true, module: $('cn-module').value, model: $('cn-model').value, weight: numberOf('cn-weight'), guidance_start: 0, guidance_end: 1, resize_mode: 'Crop and Resize', control_mode: 'Balanced', pixel_perfect: false };
        if (state.cnImage) unit.image = state.cnImage;
        p.alwayson_scripts = { controlnet: { args: [unit] } };
    }
    return { endpoint: m === 'txt2img' ? '/sdapi/v1/txt2img' : '/sdapi/v1/img2img', payload: p };
}

function showProgress(p) {
    const bar = $('gen-progress');
    bar.value = Math.max(0, Math.min(1, Number(p?.progress) || 0));
    const st = p?.state ?? {};
    const parts = [];
    if (st.sampling_steps) parts.push(`step ${st.sampling_step ?? 0}/${st.sampling_steps}`);
    if (st.job_count > 1) parts.push(`job ${(st.job_no ?? 0) + 1}/${st.job_count}`);
    if (p?.eta_relative > 0) parts.push(`ETA ${Number(p.eta_relative).toFixed(1)} s`);
    $('gen-progress-text').textContent = parts.join(' · ') || (state.busy ? 'working…' : '');
    if (p?.current_image) {
        $('live-preview').src = imageSrc(p.current_image);
        $('live-preview').hidden = false;
    }
}

async function pollProgress(token) {
    while (state.busy && state.token === token) {
        const p = await apiOr('/sdapi/v1/progress?skip_current_image=false', null);
        if (state.busy && state.token === token && p) showProgress(p);
        await new Promise((r) => setTimeout(r, POLL_MS));
    }
}

function setBusy(busy) {
    state.busy = busy;
    $('progress-wrap').hidden = !busy;
    $('generate').disabled = busy;
    $('interrupt').disabled = !busy;
    $('generate').textContent = busy ? 'Generating…' : 'Generate';
}

async function generate(e) {
    e.preventDefault();
    if (state.busy) return;
    $('gen-error').textContent = '';
    let req;
    try {
        req = await buildPayload();
    } catch (err) {
        $('gen-error').textContent = err.message;
        return;
    }
    setBusy(true);
    const token = (state.token = Symbol('run'));
    const t0 = performance.now();
    pollProgress(token);
    try {
        const res = await api(req.endpoint, { body: req.payload });
        if (!res?.images?.length) $('gen-error').textContent = 'Interrupted: no image was finished.';
        addResults(res, (performance.now() - t0) / 1000);
    } catch (err) {
        $('gen-error').textContent = `Generation failed: ${err.message}`;
    } finally {
        setBusy(false);
        $('live-preview').hidden = true;
        $('gen-progress').value = 0;
        $('gen-progress-text').textContent = '';
    }
}

function parseInfo(info) {
    if (info && typeof info === 'object') return info;
    try {
        return JSON.parse(info ?? '{}') ?? {};
    } catch {
        return {};
    }
}

function button(text, onClick, title) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = text;
    if (title) b.title = title;
    b.addEventListener('click', onClick);
    return b;
}

function galleryItem(b64, infotext, seed, seconds) {
    const li = document.createElement('li');
    li.className = 'card';
    const fig = document.createElement('figure');
    const img = document.createElement('img');
    img.src = imageSrc(b64);
    img.alt = infotext ? `Generated: ${infotext.split('\n')[0].slice(0, 120)}` : 'Generated image';
    const cap = document.createElement('figcaption');
    const pre = document.createElement('pre');
    pre.className = 'infotext';
    pre.textContent = infotext || '(no parameters)';
    const actions = document.createElement('div');
    actions.className = 'card-actions';
    if (seed !== undefined) actions.append(button('Reuse seed', () => {
        $('seed').value = seed;
        saveForm();
    }, `Set the seed to ${seed}`));
    if (infotext) actions.append(button('Reuse parameters', () => applySettings(infotextToSettings(infotext))));
    actions.append(button('To img2img', () => useAsInit(img.src), 'Use this image as the init image'));
    const a = document.createElement('a');
    a.href = img.src;
    a.download = `sdc-${seed ?? 'image'}.png`;
    a.textContent = 'Download';
    actions.append(a);
    const time = document.createElement('span');
    time.className = 'muted';
    time.textContent = seconds ? `${seconds.toFixed(1)} s` : '';
    actions.append(time);
    cap.append(pre, actions);
    fig.append(img, cap);
    li.append(fig);
    return li;
}

function addResults(res, seconds) {
    const info = parseInfo(res?.info);
    const texts = info.infotexts ?? [];
    const seeds = info.all_seeds ?? [];
    const items = (res?.images ?? []).map((b64, i) =>
        i < Math.max(texts.length, 1) ? galleryItem(b64, texts[i] ?? '', seeds[i] ?? info.seed, seconds) : galleryItem(b64, 'ControlNet detected map', undefined, 0),
    );
    $('gallery').prepend(...items);
}

/** Makes an image (URL or Blob) the init image of img2img (inpaint stays inpaint). */
async function useAsInit(src) {
    if (mode() === 'txt2img') document.querySelector('input[name=mode][value=img2img]').checked = true;
    onModeChange();
    try {
        await setInit(src);
        $('init-box').scrollIntoView({ block: 'nearest' });
    } catch (err) {
        $('gen-error').textContent = err.message;
    }
}

async function setInit(src) {
    const { width, height } = await state.painter.setImage(src);
    $('width').value = Math.max(64, Math.min(2048, width - (width % 8)));
    $('height').value = Math.max(64, Math.min(2048, height - (height % 8)));
}

// The form's values are kept in local storage, so a reload keeps the prompt and settings.
const FORM_KEY = 'sdc.settings';
const KEPT = ['prompt', 'negative_prompt', 'steps', 'cfg_scale', 'width', 'height', 'seed', 'batch_size', 'n_iter', 'denoising_strength', 'mask_blur', 'sampler_name', 'scheduler'];

function saveForm() {
    try {
        localStorage.setItem(FORM_KEY, JSON.stringify(Object.fromEntries(KEPT.map((k) => [k, $(k).value]))));
    } catch {
        // storage disabled or full: nothing is kept
    }
}

function restoreForm() {
    let saved = null;
    try {
        saved = JSON.parse(localStorage.getItem(FORM_KEY) ?? 'null');
    } catch {
        saved = null;
    }
    for (const k of KEPT) {
        const v = saved?.[k];
        if (typeof v !== 'string') continue;
        if ($(k).tagName === 'SELECT') selectMatching($(k), v);
        else $(k).value = v;
    }
    $('denoise-out').value = $('denoising_strength').value;
}

function selectMatching(sel, value) {
    const v = String(value).toLowerCase();
    const opt = [...sel.options].find((o) => o.value.toLowerCase() === v || o.textContent.toLowerCase() === v);
    if (opt) sel.value = opt.value;
    return !!opt;
}

function applySettings(s) {
    const set = (id, v) => {
        if (v !== undefined) $(id).value = v;
    };
    set('prompt', s.prompt);
    set('negative_prompt', s.negative_prompt);
    for (const k of ['steps', 'cfg_scale', 'seed', 'width', 'height', 'denoising_strength']) set(k, s[k]);
    if (s.sampler_name) selectMatching($('sampler_name'), s.sampler_name);
    if (s.scheduler) selectMatching($('scheduler'), s.scheduler);
    if (s.model) {
        const m = state.models.find((x) => x.model_name === s.model || x.title === s.model || x.title?.startsWith(`${s.model}.`));
        if (m && $('model').value !== m.title) {
            $('model').value = m.title;
            changeModel();
        }
    }
    $('denoise-out').value = $('denoising_strength').value;
    saveForm();
}

async function changeModel() {
    const title = $('model').value;
    $('gen-error').textContent = '';
    $('generate').disabled = true;
    $('gen-progress-text').textContent = `loading ${title}…`;
    try {
        await api('/sdapi/v1/options', { body: { sd_model_checkpoint: title } });
    } catch (err) {
        $('gen-error').textContent = `Model change failed: ${err.message}`;
    } finally {
        $('generate').disabled = state.busy;
        $('gen-progress-text').textContent = '';
    }
}

async function onInitFile() {
    const f = $('init-file').files[0];
    if (!f) return;
    try {
        await setInit(f);
    } catch (err) {
        $('gen-error').textContent = err.message;
    }
}

// A PNG dropped on the form: its A1111 parameters fill the form ("PNG info"); a ComfyUI
// workflow in it opens in the node editor instead.
async function onDrop(e, app) {
    const f = e.dataTransfer?.files?.[0];
    if (!f || e.target.type === 'file') return; // a file input takes its own drops
    e.preventDefault();
    try {
        const text = await readPngText(await f.arrayBuffer());
        if (text.parameters) return applySettings(infotextToSettings(text.parameters));
        const wf = text.workflow ?? text.prompt;
        if (!wf) throw new Error(`${f.name} carries no generation parameters`);
        await app.show('nodes');
        app.nodes.loadGraph(JSON.parse(wf), f.name);
    } catch (err) {
        $('gen-error').textContent = err.message;
    }
}

function wire(app) {
    const form = $('gen-form');
    form.addEventListener('change', saveForm);
    form.addEventListener('dragover', (e) => e.preventDefault());
    form.addEventListener('drop', (e) => onDrop(e, app));
    $('gen-form').addEventListener('submit', generate);
    $('interrupt').addEventListener('click', () => api('/sdapi/v1/interrupt', { body: {} }).catch(() => {}));
    $('seed-random').addEventListener('click', () => ($('seed').value = -1));
    $('model').addEventListener('change', changeModel);
    for (const r of document.querySelectorAll('input[name=mode]')) r.addEventListener('change', onModeChange);
    $('init-file').addEventListener('change', onInitFile);
    $('denoising_strength').addEventListener('input', () => ($('denoise-out').value = $('denoising_strength').value));
    $('brush-size').addEventListener('input', () => {
        state.painter.brush = numberOf('brush-size');
        $('brush-out').value = $('brush-size').value;
    });
    $('mask-clear').addEventListener('click', () => state.painter.clear());
    $('mask-invert').addEventListener('click', () => state.painter.invert());
    $('lora-add').addEventListener('click', () => {
        const p = $('prompt');
        const tag = `<lora:${$('lora-pick').value}:1>`;
        p.value = p.value && !/\s$/.test(p.value) ? `${p.value} ${tag}` : p.value + tag;
    });
    $('cn-file').addEventListener('change', async () => {
        const f = $('cn-file').files[0];
        state.cnImage = f ? await blobToBase64(f) : null;
        $('cn-preview').hidden = !f;
        if (f) $('cn-preview').src = imageSrc(state.cnImage, f.type || 'image/png');
    });
}

/** Starts the view (called once by main.js). */
export async function start(app) {
    state.painter = new MaskPainter($('init-canvas'), $('mask-canvas'));
    wire(app);
    onModeChange();
    await loadLists();
    restoreForm();
    app.settings = { applySettings, state, useAsInit };
    return {};
}
