// The node workflow editor ("Nodes" tab): ComfyUI workflows drawn and edited with
// @comfyorg/litegraph (ComfyUI's own fork, served from vendor/), node classes and widgets built
// from GET /object_info, an HTML inspector for the selected node's values, load/save in UI and
// API format (also from PNGs that carry `workflow` / `prompt` text), and runs through POST
// /prompt with the WebSocket (/ws) showing the running node, progress, previews and outputs.
// Not here: format conversion (workflow.js), PNG parsing (png.js), the socket (comfy_ws.js).
import { LGraph, LGraphCanvas, LGraphNode, LiteGraph } from '../vendor/litegraph/litegraph.es.js';
import { api, download } from './api.js';
import { ComfySocket } from './comfy_ws.js';
import { renderInspector } from './inspector.js';
import { infotextToSettings } from './infotext.js';
import { readPngText } from './png.js';
import { apiToWorkflow, defaultPrompt, isApiPrompt, isUiWorkflow, nextSeed, nodeSpec, SEED_CONTROL, workflowToApi } from './workflow.js';

const $ = (id) => document.getElementById(id);
const STORE_KEY = 'sdc.workflow';
const RUNNING_COLOR = '#2f6f3e';
const MIN_FIT_SCALE = 0.62;
const ed = { shown: new Set(), graph: null, canvas: null, objectInfo: {}, socket: null, run: null, selected: null, app: null };

function status(text, isError = false) {
    $('wf-status').textContent = text;
    $('wf-status').classList.toggle('error', isError);
}

function decimals(step) {
    const s = String(step);
    return s.includes('.') ? s.length - s.indexOf('.') - 1 : 0;
}

function addWidget(node, w) {
    if (w.kind === 'number') {
        const opts = { min: w.min, max: w.max, step: w.step * 10, step2: w.step, precision: w.int ? 0 : Math.max(2, decimals(w.step)) };
        const widget = node.addWidget('number', w.name, w.value, (v) => {
            if (w.int) widget.value = Math.round(v);
        }, opts);
        return;
    }
    const changed = () => {}; // values are read when queueing; litegraph warns without a callback
    if (w.kind === 'combo') node.addWidget('combo', w.name, w.value, changed, { values: [...w.values], image_upload: w.upload });
    else if (w.kind === 'toggle') node.addWidget('toggle', w.name, !!w.value, changed, {});
    else node.addWidget('text', w.name, w.value ?? '', changed, { multiline: !!w.multiline });
}

function registerTypes(objectInfo) {
    for (const [cls, info] of Object.entries(objectInfo)) {
        const spec = nodeSpec(info);
        class ComfyNode extends LGraphNode {
            constructor(title) {
                super(title ?? spec.title ?? cls);
                this.serialize_widgets = true;
                this.comfyClass = cls;
                for (const s of spec.slots) this.addInput(s.name, s.type, s.optional ? { shape: LiteGraph.CIRCLE_SHAPE } : undefined);
                for (const o of spec.outputs) this.addOutput(o.name, o.type);
                for (const w of spec.widgets) addWidget(this, w);
                const size = this.computeSize();
                this.size = [Math.max(size[0], 300), size[1]];
                this.properties = { 'Node name for S&R': cls };
            }
        }
        ComfyNode.title = spec.title || cls;
        LiteGraph.registerNodeType(cls, ComfyNode);
        ComfyNode.category = spec.category || 'sdc';
    }
}

// ComfyUI's editor-only nodes: a Reroute passes a link through, a Note holds text. Neither is
// sent to the server (workflowToApi follows Reroutes). A PrimitiveNode stays litegraph's
// placeholder, which keeps its saved data (and so its value) as it was.
function registerFrontendTypes() {
    class Reroute extends LGraphNode {
        constructor(title) {
            super(title ?? 'Reroute');
            this.addInput('', '*');
            this.addOutput('', '*');
            this.size = [90, 26];
        }
    }
    class Note extends LGraphNode {
        constructor(title) {
            super(title ?? 'Note');
            this.serialize_widgets = true;
            this.addWidget('text', 'text', '', () => {}, { multiline: true });
            this.size = [300, 80];
            this.color = '#432';
            this.bgcolor = '#653';
        }
    }
    for (const [name, cls] of [['Reroute', Reroute], ['Note', Note]]) {
        if (ed.objectInfo[name]) continue; // the server's own class wins
        cls.title = name;
        LiteGraph.registerNodeType(name, cls);
        cls.category = 'utils';
    }
}

function markPrimitives() {
    for (const node of ed.graph._nodes) {
        const saved = node.last_serialization;
        if (saved?.type !== 'PrimitiveNode') continue;
        node.has_errors = false;
        node.title = `${saved.title ?? 'Primitive'}: ${Array.isArray(saved.widgets_values) ? saved.widgets_values[0] : ''}`;
    }
}

function loadGraph(json, source, seedControl = 'fixed') {
    let workflow = json;
    if (isApiPrompt(json)) workflow = apiToWorkflow(json, ed.objectInfo, seedControl);
    else if (!isUiWorkflow(json)) throw new Error(`${source}: not a ComfyUI workflow (neither API nor UI format)`);
    const missing = [...new Set(workflow.nodes.map((n) => n.type).filter((t) => !ed.objectInfo[t] && !['Note', 'Reroute', 'PrimitiveNode', 'MarkdownNote'].includes(t)))];
    ed.graph.clear();
    ed.graph.configure(workflow);
    markPrimitives();
    for (const node of ed.graph._nodes) {
        const min = node.computeSize();
        if (node.size[0] < min[0] || node.size[1] < min[1]) node.setSize([Math.max(node.size[0], min[0]), Math.max(node.size[1], min[1])]);
    }
    ed.needFit = true;
    resizeCanvas();
    select(null);
    saveLocal();
    status(missing.length ? `Loaded ${source}; unknown node types: ${missing.join(', ')}` : `Loaded ${source}.`, missing.length > 0);
}

function loadDefault() {
    loadGraph(defaultPrompt(ed.objectInfo, Math.floor(Math.random() * 2 ** 32)), 'the default workflow', 'randomize');
}

function saveLocal() {
    try {
        localStorage.setItem(STORE_KEY, JSON.stringify(ed.graph.serialize()));
    } catch {
        // storage full or disabled: the workflow just is not remembered
    }
}

async function loadFile(file) {
    try {
        if (file.type === 'image/png' || /\.png$/i.test(file.name)) {
            const text = await readPngText(await file.arrayBuffer());
            if (text.workflow) return loadGraph(JSON.parse(text.workflow), file.name);
            if (text.prompt) return loadGraph(JSON.parse(text.prompt), file.name);
            if (text.parameters) {
                await ed.app.show('settings');
                ed.app.settings.applySettings(infotextToSettings(text.parameters));
                return;
            }
            throw new Error(`${file.name} carries no workflow`);
        }
        loadGraph(JSON.parse(await file.text()), file.name);
    } catch (err) {
        status(`Cannot load: ${err.message}`, true);
    }
}

function setRunning(nodeId) {
    const run = ed.run;
    if (run?.node) {
        run.node.bgcolor = run.oldColor;
        run.node = null;
    }
    const node = nodeId == null ? null : ed.graph.getNodeById(Number(nodeId));
    if (node && run) {
        run.node = node;
        run.oldColor = node.bgcolor;
        node.bgcolor = RUNNING_COLOR;
    }
    ed.canvas.setDirty(true, true);
    return node;
}

function showOutputImages(images) {
    for (const im of images ?? []) {
        const q = new URLSearchParams({ filename: im.filename, subfolder: im.subfolder ?? '', type: im.type ?? 'output' });
        const key = q.toString();
        if (ed.shown.has(key)) continue;
        ed.shown.add(key);
        const img = document.createElement('img');
        img.src = `/view?${q}`;
        img.alt = `Output ${im.filename}`;
        const a = document.createElement('a');
        a.href = img.src;
        a.target = '_blank';
        a.append(img);
        $('wf-outputs').prepend(a);
    }
}

function finishRun(text, isError = false) {
    setRunning(null);
    ed.run = null;
    $('wf-progress').value = 0;
    $('wf-preview').hidden = true;
    status(text, isError);
}

function onMessage(msg) {
    const d = msg.data ?? {};
    const mine = ed.run && (!d.prompt_id || !ed.run.id || d.prompt_id === ed.run.id);
    if (msg.type === 'status' && !ed.run) {
        const q = d.status?.exec_info?.queue_remaining;
        const cur = $('wf-status').textContent;
        if (q !== undefined && (!cur || cur.startsWith('Queue:'))) status(`Queue: ${q}`);
    }
    if (!mine) return;
    if (msg.type === 'executing') {
        if (d.node == null) return finishRun(`Done in ${((performance.now() - ed.run.t0) / 1000).toFixed(1)} s.`);
        const node = setRunning(d.node);
        $('wf-progress').value = 0;
        status(`Running: ${node?.title ?? d.node} (#${d.node})`);
    } else if (msg.type === 'progress') {
        $('wf-progress').value = d.max ? d.value / d.max : 0;
        status(`Running: ${ed.run.node?.title ?? d.node ?? ''} — step ${d.value}/${d.max}`);
    } else if (msg.type === 'executed') {
        showOutputImages(d.output?.images);
    } else if (msg.type === 'execution_error') {
        markErrors([String(d.node_id)]);
        finishRun(`Error in ${d.node_type ?? 'node'} #${d.node_id ?? '?'}: ${d.exception_message ?? 'failed'}`, true);
    } else if (msg.type === 'execution_interrupted') {
        finishRun('Interrupted.', true);
    } else if (msg.type === 'execution_success') {
        finishRun(`Done in ${((performance.now() - ed.run.t0) / 1000).toFixed(1)} s.`);
    }
}

function onPreview(blob) {
    if (!ed.run) return;
    const img = $('wf-preview');
    if (img.src.startsWith('blob:')) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(blob);
    img.hidden = false;
}

// The result arrives even when the socket missed it (not connected yet, dropped): poll
// /history until the prompt is there; images already shown from the socket are not repeated.
async function pollHistory(run) {
    while (ed.run === run) {
        await new Promise((r) => setTimeout(r, 1000));
        if (ed.run !== run) break;
        const h = await api(`/history/${encodeURIComponent(run.id)}`).catch(() => null);
        const entry = h?.[run.id];
        if (!entry || ed.run !== run) continue;
        if (entry.status && entry.status.completed === false && entry.status.status_str !== 'error') continue;
        for (const out of Object.values(entry.outputs ?? {})) showOutputImages(out.images);
        const failed = entry.status?.status_str === 'error';
        const msg = (entry.status?.messages ?? []).find((m) => m[0] === 'execution_error')?.[1]?.exception_message;
        finishRun(failed ? `The run failed${msg ? `: ${msg}` : ''}.` : `Done in ${((performance.now() - run.t0) / 1000).toFixed(1)} s.`, failed);
    }
}

function advanceSeeds() {
    for (const node of ed.graph._nodes) {
        const ws = node.widgets ?? [];
        ws.forEach((w, i) => {
            if (w.name !== SEED_CONTROL || i === 0) return;
            const seed = ws[i - 1];
            seed.value = nextSeed(Number(seed.value), w.value, seed.options?.min ?? 0, seed.options?.max);
        });
    }
    ed.canvas.setDirty(true, false);
    if (ed.selected) renderInspector($('node-inspector'), ed.selected, () => ed.canvas.setDirty(true, false));
}

// Outlines the nodes the server found fault with (litegraph draws has_errors in red).
function markErrors(ids) {
    for (const node of ed.graph._nodes) node.has_errors = ids.includes(String(node.id));
    ed.canvas.setDirty(true, true);
}

function nodeErrorText(body) {
    const errs = Object.entries(body?.node_errors ?? {}).flatMap(([id, e]) => (e.errors ?? []).map((x) => `#${id} ${e.class_type ?? ''}: ${x.message}${x.details ? ` (${x.details})` : ''}`));
    return errs.join('; ');
}

async function queuePrompt() {
    const workflow = ed.graph.serialize();
    const { prompt, errors } = workflowToApi(workflow, ed.objectInfo);
    if (errors.length) return status(errors.join('; '), true);
    if (Object.keys(prompt).length === 0) return status('The graph is empty.', true);
    markErrors([]);
    const run = { id: null, t0: performance.now(), node: null };
    ed.run = run;
    ed.shown.clear();
    $('wf-outputs').replaceChildren();
    status('Queueing…');
    try {
        const res = await api('/prompt', { body: { prompt, client_id: ed.socket.clientId, extra_data: { extra_pnginfo: { workflow } } } });
        advanceSeeds();
        saveLocal();
        if (ed.run !== run) return; // finished already (the socket was faster than the reply)
        run.id = res.prompt_id;
        if (!run.node) status(`Queued (${res.prompt_id}).`);
        pollHistory(run);
    } catch (err) {
        if (ed.run === run) ed.run = null;
        markErrors(Object.keys(err.body?.node_errors ?? {}));
        const detail = nodeErrorText(err.body);
        status(`Queue failed: ${err.message}${detail ? ` — ${detail}` : ''}`, true);
    }
}

function select(node) {
    ed.selected = node;
    renderInspector($('node-inspector'), node, () => {
        ed.canvas.setDirty(true, false);
        saveLocal();
    });
}

function setupDrop() {
    const wrap = $('graph-wrap');
    wrap.addEventListener('dragover', (e) => {
        e.preventDefault();
        wrap.classList.add('dragover');
    });
    wrap.addEventListener('dragleave', () => wrap.classList.remove('dragover'));
    wrap.addEventListener('drop', (e) => {
        e.preventDefault();
        e.stopPropagation();
        wrap.classList.remove('dragover');
        const f = e.dataTransfer?.files?.[0];
        if (f) loadFile(f);
    }, true);
}

function setupToolbar() {
    $('wf-queue').addEventListener('click', queuePrompt);
    document.addEventListener('keydown', (e) => {
        if ((e.ctrlKey || e.metaKey) && e.key === 'Enter' && !$('view-nodes').hidden) {
            e.preventDefault();
            queuePrompt();
        }
    });
    $('wf-interrupt').addEventListener('click', () => api('/interrupt', { body: {} }).catch((e) => status(e.message, true)));
    $('wf-default').addEventListener('click', loadDefault);
    $('wf-clear').addEventListener('click', () => {
        ed.graph.clear();
        select(null);
        saveLocal();
        ed.canvas.setDirty(true, true);
    });
    $('wf-file').addEventListener('change', () => {
        const f = $('wf-file').files[0];
        if (f) loadFile(f);
        $('wf-file').value = '';
    });
    $('wf-save').addEventListener('click', () => download('workflow.json', JSON.stringify(ed.graph.serialize(), null, 2)));
    $('wf-save-api').addEventListener('click', () => download('workflow_api.json', JSON.stringify(workflowToApi(ed.graph.serialize(), ed.objectInfo).prompt, null, 2)));
}

// Shows the whole graph (at most at 100 %) once the canvas has a size.
function fitView() {
    const nodes = ed.graph._nodes;
    ed.canvas.ds.reset();
    if (!nodes.length) return;
    const title = LiteGraph.NODE_TITLE_HEIGHT;
    const x0 = Math.min(...nodes.map((n) => n.pos[0]));
    const y0 = Math.min(...nodes.map((n) => n.pos[1] - title));
    const x1 = Math.max(...nodes.map((n) => n.pos[0] + n.size[0]));
    const y1 = Math.max(...nodes.map((n) => n.pos[1] + n.size[1]));
    const [w, h] = [ed.canvas.canvas.width, ed.canvas.canvas.height];
    const fit = Math.min(1, (0.96 * w) / (x1 - x0), (0.96 * h) / (y1 - y0));
    const scale = Math.max(MIN_FIT_SCALE, fit); // below this the text would not be drawn
    ed.canvas.ds.scale = scale;
    ed.canvas.ds.offset[0] = Math.max(0.02 * w / scale, (w / scale - (x1 - x0)) / 2) - x0;
    ed.canvas.ds.offset[1] = Math.max(0.02 * h / scale, (h / scale - (y1 - y0)) / 2) - y0;
}

function resizeCanvas() {
    const wrap = $('graph-wrap');
    if (!wrap.clientWidth || !wrap.clientHeight) return;
    ed.canvas.resize(wrap.clientWidth, wrap.clientHeight);
    if (ed.needFit) {
        ed.needFit = false;
        fitView();
    }
    ed.canvas.setDirty(true, true);
}

function restore() {
    try {
        const saved = JSON.parse(localStorage.getItem(STORE_KEY) ?? 'null');
        if (saved && isUiWorkflow(saved) && saved.nodes.length) {
            loadGraph(saved, 'the last workflow');
            return;
        }
    } catch {
        // a damaged saved workflow falls back to the default one
    }
    loadDefault();
}

/** Starts the view (called once by main.js). */
export async function start(app) {
    ed.app = app;
    ed.objectInfo = await api('/object_info');
    registerTypes(ed.objectInfo);
    registerFrontendTypes();
    ed.graph = new LGraph();
    ed.canvas = new LGraphCanvas($('graph-canvas'), ed.graph);
    ed.canvas.show_info = false;
    ed.canvas.render_canvas_border = false;
    ed.canvas.low_quality_zoom_threshold = 0.45;
    ed.canvas.onNodeSelected = (node) => select(node);
    ed.canvas.onNodeDeselected = () => select(null);
    ed.graph.onAfterChange = () => saveLocal();
    new ResizeObserver(resizeCanvas).observe($('graph-wrap'));
    setupToolbar();
    setupDrop();
    ed.socket = new ComfySocket(onMessage, onPreview);
    restore();
    app.nodes = { editor: ed, loadGraph, loadDefault, select: (id) => {
        const node = ed.graph.getNodeById(Number(id));
        if (node) ed.canvas.selectNode(node);
        select(node);
    }, queuePrompt };
    return { shown: resizeCanvas };
}
