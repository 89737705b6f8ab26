// ComfyUI workflows without a canvas: what widgets and sockets a node class has (from
// GET /object_info), the two file formats — API format ({id: {class_type, inputs}}) and the
// UI format the ComfyUI editor saves ({nodes, links, ...}) — converted into each other, and the
// default txt2img workflow. The node editor (nodes.js) builds litegraph nodes from nodeSpec()
// so that widgets_values line up with ComfyUI's own saved files (including the
// "control_after_generate" value after a seed). Not here: drawing, running, the WebSocket.
// Pure module: runs in the browser and in Node (tests/browser/unit.mjs).

export const SEED_CONTROL = 'control_after_generate';
export const SEED_CONTROL_VALUES = ['fixed', 'increment', 'decrement', 'randomize'];
const WIDGET_TYPES = new Set(['INT', 'FLOAT', 'STRING', 'BOOLEAN', 'COMBO']);
const MODE_NEVER = 2;
const MODE_BYPASS = 4;

function inputEntries(info) {
    const req = info?.input?.required ?? {};
    const opt = info?.input?.optional ?? {};
    const all = [];
    const order = info?.input_order;
    const add = (group, names, optional) => {
        for (const name of names) if (group[name]) all.push({ name, def: group[name], optional });
    };
    add(req, order?.required ?? Object.keys(req), false);
    add(opt, order?.optional ?? Object.keys(opt), true);
    return all;
}

function widgetOf(name, def) {
    const [type, opts = {}] = Array.isArray(def) ? def : [def];
    const upload = !!opts.image_upload;
    if (Array.isArray(type)) return { name, kind: 'combo', values: type, value: opts.default ?? type[0] ?? '', upload };
    if (type === 'COMBO') {
        const values = opts.options ?? [];
        return { name, kind: 'combo', values, value: opts.default ?? values[0] ?? '', upload };
    }
    if (!WIDGET_TYPES.has(type) || opts.forceInput) return null;
    if (type === 'STRING')
        return { name, kind: 'text', multiline: !!opts.multiline, value: opts.default ?? '' };
    if (type === 'BOOLEAN') return { name, kind: 'toggle', value: opts.default ?? false };
    const isInt = type === 'INT';
    return {
        name,
        kind: 'number',
        int: isInt,
        value: opts.default ?? 0,
        min: opts.min,
        max: opts.max,
        step: opts.step ?? (isInt ? 1 : 0.01),
        round: opts.round,
    };
}

function wantsSeedControl(name, def) {
    const opts = (Array.isArray(def) && def[1]) || {};
    if (opts.control_after_generate !== undefined) return !!opts.control_after_generate;
    return def?.[0] === 'INT' && (name === 'seed' || name === 'noise_seed');
}

/**
 * What a node class shows: {slots: [{name, type, optional}], widgets: [{name, kind, value,
 * ...}], outputs: [{name, type}], outputNode, category, title}. Widgets come in ComfyUI's order
 * (required then optional, input_order when given); a seed widget is followed by its
 * control_after_generate combo, as in ComfyUI, so saved widgets_values line up.
 */
export function nodeSpec(info) {
    const slots = [];
    const widgets = [];
    for (const { name, def, optional } of inputEntries(info)) {
        const w = widgetOf(name, def);
        if (!w) {
            const type = Array.isArray(def) ? def[0] : def;
            slots.push({ name, type: String(type), optional });
            continue;
        }
        w.optional = optional;
        w.type = Array.isArray(def?.[0]) ? 'COMBO' : String(def?.[0] ?? def);
        widgets.push(w);
        if (wantsSeedControl(name, def))
            widgets.push({ name: SEED_CONTROL, kind: 'combo', values: SEED_CONTROL_VALUES, value: 'randomize', control: true });
    }
    const types = info?.output ?? [];
    const names = info?.output_name ?? [];
    const outputs = types.map((t, i) => ({ name: names[i] ?? String(t), type: Array.isArray(t) ? 'COMBO' : String(t) }));
    return {
        slots,
        widgets,
        outputs,
        outputNode: !!info?.output_node,
        category: info?.category ?? '',
        title: info?.display_name || info?.name || '',
    };
}

/** True for API format: an object whose values all have a class_type. */
export function isApiPrompt(json) {
    if (!json || typeof json !== 'object' || Array.isArray(json)) return false;
    const vals = Object.values(json);
    return vals.length > 0 && vals.every((v) => v && typeof v === 'object' && typeof v.class_type === 'string');
}

/** True for the UI format: {nodes: [...], links: [...]}. */
export function isUiWorkflow(json) {
    return !!json && typeof json === 'object' && Array.isArray(json.nodes) && Array.isArray(json.links ?? []);
}

function linkTuple(l) {
    if (Array.isArray(l)) return { id: l[0], from: l[1], fromSlot: l[2], to: l[3], toSlot: l[4], type: l[5] };
    return { id: l.id, from: l.origin_id, fromSlot: l.origin_slot, to: l.target_id, toSlot: l.target_slot, type: l.type };
}

// A widget the file gives no value for keeps its default, as a freshly made node would.
function widgetValuesByName(node, spec) {
    const out = Object.fromEntries(spec.widgets.map((w) => [w.name, w.value]));
    const vals = node.widgets_values;
    if (vals && !Array.isArray(vals) && typeof vals === 'object') return { ...out, ...vals };
    if (!Array.isArray(vals)) return out;
    spec.widgets.forEach((w, i) => {
        if (i < vals.length) out[w.name] = vals[i];
    });
    return out;
}

// Follows a link back through Reroute, PrimitiveNode and bypassed nodes; gives
// {ref: [id, slot]} or {value} or null (no source: muted or dangling).
function resolveLink(linkId, nodes, links, depth = 0) {
    const l = links.get(linkId);
    if (!l || depth > 64) return null;
    const src = nodes.get(l.from);
    if (!src) return null;
    if (src.mode === MODE_NEVER) return null;
    if (src.type === 'Reroute') {
        const up = src.inputs?.[0]?.link;
        return up == null ? null : resolveLink(up, nodes, links, depth + 1);
    }
    if (src.type === 'PrimitiveNode') return { value: Array.isArray(src.widgets_values) ? src.widgets_values[0] : undefined };
    if (src.mode === MODE_BYPASS) {
        const same = (src.inputs ?? []).find((i) => i.link != null && i.type === l.type);
        return same ? resolveLink(same.link, nodes, links, depth + 1) : null;
    }
    return { ref: [String(l.from), l.fromSlot] };
}

function nodeApiInputs(node, spec, nodes, links, errors) {
    const inputs = {};
    const values = widgetValuesByName(node, spec);
    for (const w of spec.widgets) if (!w.control && w.name in values) inputs[w.name] = values[w.name];
    for (const inp of node.inputs ?? []) {
        if (inp.link == null) continue;
        const r = resolveLink(inp.link, nodes, links);
        const name = inp.widget?.name ?? inp.name;
        if (r?.ref) inputs[name] = r.ref;
        else if (r && r.value !== undefined) inputs[name] = r.value;
    }
    for (const s of spec.slots)
        if (!s.optional && !(s.name in inputs))
            errors.push(`node ${node.id} (${node.type}): required input '${s.name}' is not connected`);
    return inputs;
}

/**
 * API-format prompt of a UI workflow: {prompt, errors}. Muted (mode 2) and bypassed (mode 4)
 * nodes are left out, links through Reroute / bypassed nodes are followed, PrimitiveNode values
 * are written in place, and node types that /object_info lacks (notes, groups) are skipped.
 * errors lists unconnected required inputs (the prompt is still returned).
 */
export function workflowToApi(workflow, objectInfo) {
    const nodes = new Map((workflow.nodes ?? []).map((n) => [n.id, n]));
    const links = new Map((workflow.links ?? []).map((l) => linkTuple(l)).map((l) => [l.id, l]));
    const prompt = {};
    const errors = [];
    for (const node of nodes.values()) {
        if (node.mode === MODE_NEVER || node.mode === MODE_BYPASS) continue;
        const info = objectInfo[node.type];
        if (!info) continue;
        const spec = nodeSpec(info);
        const entry = { class_type: node.type, inputs: nodeApiInputs(node, spec, nodes, links, errors) };
        if (node.title && node.title !== spec.title) entry._meta = { title: node.title };
        prompt[String(node.id)] = entry;
    }
    return { prompt, errors };
}

function isRef(v) {
    return Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && Number.isInteger(v[1]);
}

// Longest-path depth of each node from the sources, for a left-to-right layout.
function depths(prompt) {
    const depth = {};
    const visit = (id, seen) => {
        if (depth[id] !== undefined) return depth[id];
        if (seen.has(id) || !prompt[id]) return 0;
        seen.add(id);
        let d = 0;
        for (const v of Object.values(prompt[id].inputs ?? {})) if (isRef(v)) d = Math.max(d, visit(v[0], seen) + 1);
        seen.delete(id);
        depth[id] = d;
        return d;
    };
    for (const id of Object.keys(prompt)) visit(id, new Set());
    return depth;
}

function nodeHeight(spec, extraInputs) {
    const rows = Math.max(spec.slots.length + extraInputs, spec.outputs.length);
    const multiline = spec.widgets.filter((w) => w.multiline).length;
    return 30 + rows * 20 + spec.widgets.length * 24 + multiline * 60;
}

function uiNodeOf(id, entry, spec, pos, seedControl) {
    const inputs = entry.inputs ?? {};
    const uiInputs = spec.slots.map((s) => ({ name: s.name, type: s.type, link: null }));
    for (const w of spec.widgets)
        if (!w.control && isRef(inputs[w.name])) uiInputs.push({ name: w.name, type: w.type, widget: { name: w.name }, link: null });
    const values = spec.widgets.map((w) => {
        if (w.control) return seedControl;
        const v = inputs[w.name];
        return v === undefined || isRef(v) ? w.value : v;
    });
    const node = {
        id: Number(id),
        type: entry.class_type,
        pos,
        size: [300, nodeHeight(spec, uiInputs.length - spec.slots.length)],
        flags: {},
        order: 0,
        mode: 0,
        inputs: uiInputs,
        outputs: spec.outputs.map((o, i) => ({ name: o.name, type: o.type, links: [], slot_index: i })),
        properties: { 'Node name for S&R': entry.class_type },
        widgets_values: values,
    };
    if (entry._meta?.title) node.title = entry._meta.title;
    return node;
}

/**
 * UI workflow (litegraph serialisation, version 0.4) of an API-format prompt, laid out left to
 * right by depth. Node ids must be integers (as ComfyUI's are). seedControl is the
 * control_after_generate mode given to seed widgets ('fixed' keeps an imported seed as
 * written). Throws Error for a class that /object_info lacks or a non-numeric id; links to
 * missing nodes are dropped.
 */
export function apiToWorkflow(prompt, objectInfo, seedControl = 'fixed') {
    const depth = depths(prompt);
    const columnY = {};
    const nodes = [];
    const byId = new Map();
    const ids = Object.keys(prompt).sort((a, b) => Number(a) - Number(b));
    for (const id of ids) {
        const entry = prompt[id];
        if (!/^\d+$/.test(id)) throw new Error(`node id '${id}' is not a number`);
        const info = objectInfo[entry.class_type];
        if (!info) throw new Error(`unknown node type '${entry.class_type}'`);
        const d = depth[id] ?? 0;
        const y = columnY[d] ?? 40;
        const node = uiNodeOf(id, entry, nodeSpec(info), [40 + d * 340, y], seedControl);
        columnY[d] = y + node.size[1] + 50;
        nodes.push(node);
        byId.set(id, node);
    }
    const links = [];
    let lastLink = 0;
    for (const id of ids) {
        const target = byId.get(id);
        for (const [name, v] of Object.entries(prompt[id].inputs ?? {})) {
            if (!isRef(v) || !byId.has(v[0])) continue;
            const src = byId.get(v[0]);
            const slot = target.inputs.findIndex((i) => i.name === name);
            const out = src.outputs[v[1]];
            if (slot < 0 || !out) continue;
            const linkId = ++lastLink;
            links.push([linkId, src.id, v[1], target.id, slot, out.type]);
            target.inputs[slot].link = linkId;
            out.links.push(linkId);
        }
    }
    const lastNode = nodes.reduce((m, n) => Math.max(m, n.id), 0);
    return { last_node_id: lastNode, last_link_id: lastLink, nodes, links, groups: [], config: {}, extra: {}, version: 0.4 };
}

function firstOf(objectInfo, cls, input) {
    const w = nodeSpec(objectInfo[cls] ?? {}).widgets.find((x) => x.name === input);
    return w?.values?.[0] ?? w?.value ?? '';
}

/**
 * ComfyUI's default txt2img graph in API format (checkpoint -> two CLIP encodes -> KSampler ->
 * VAE decode -> save), with the first checkpoint /object_info offers.
 */
export function defaultPrompt(objectInfo, seed = 0) {
    const ckpt = firstOf(objectInfo, 'CheckpointLoaderSimple', 'ckpt_name');
    return {
        3: {
            class_type: 'KSampler',
            inputs: {
                seed, steps: 20, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1,
                model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0],
            },
        },
        4: { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: ckpt } },
        5: { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 } },
        6: {
            class_type: 'CLIPTextEncode',
            inputs: { text: 'beautiful scenery nature glass bottle landscape, purple galaxy bottle,', clip: ['4', 1] },
        },
        7: { class_type: 'CLIPTextEncode', inputs: { text: 'text, watermark', clip: ['4', 1] } },
        8: { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
        9: { class_type: 'SaveImage', inputs: { filename_prefix: 'ComfyUI', images: ['8', 0] } },
    };
}

/** The next seed after a run for a control_after_generate mode (ComfyUI's rules; `true` from
 * older files means randomize). */
export function nextSeed(value, mode, min = 0, max = 0xffffffffffffffff) {
    if (mode === true) mode = 'randomize'; // older saved workflows store a boolean here
    const hi = Math.min(max, Number.MAX_SAFE_INTEGER);
    if (mode === 'increment') return Math.min(value + 1, hi);
    if (mode === 'decrement') return Math.max(value - 1, min);
    if (mode === 'randomize') return min + Math.floor(Math.random() * (Math.min(hi, 0xffffffff * 1024) - min));
    return value;
}
