// The node inspector of the node editor: the selected litegraph node's widgets as ordinary
// form controls (textarea for multi-line text, select for choices, number inputs, checkbox),
// so values can be typed, pasted and reached by keyboard and screen reader. Changes are written
// straight to the widget; onChange redraws. An image choice (LoadImage) also gets a file
// picker that uploads through POST /upload/image. Not here: which node is selected (nodes.js).

function control(w, id) {
    const t = w.type;
    if (t === 'combo') {
        const sel = document.createElement('select');
        const values = typeof w.options?.values === 'function' ? w.options.values() : w.options?.values ?? [];
        for (const v of values) {
            const o = document.createElement('option');
            o.value = o.textContent = String(v);
            sel.append(o);
        }
        sel.value = String(w.value);
        return [sel, () => sel.value];
    }
    if (t === 'toggle') {
        const box = document.createElement('input');
        box.type = 'checkbox';
        box.checked = !!w.value;
        return [box, () => box.checked];
    }
    if (t === 'number' || t === 'slider') {
        const num = document.createElement('input');
        num.type = 'number';
        if (w.options?.min != null) num.min = w.options.min;
        if (w.options?.max != null && w.options.max <= Number.MAX_SAFE_INTEGER) num.max = w.options.max;
        num.step = w.options?.step2 ?? 'any';
        num.value = w.value;
        return [num, () => {
            let v = Number(num.value);
            if (w.options?.precision === 0) v = Math.round(v);
            if (w.options?.min != null) v = Math.max(w.options.min, v);
            if (w.options?.max != null) v = Math.min(w.options.max, v);
            return v;
        }];
    }
    const multi = !!w.options?.multiline;
    const text = document.createElement(multi ? 'textarea' : 'input');
    if (multi) text.rows = 4;
    text.value = w.value ?? '';
    return [text, () => text.value];
}

// A file picker that uploads an image (ComfyUI's /upload/image) and selects it in the combo.
function uploader(w, sel, onChange) {
    const file = document.createElement('input');
    file.type = 'file';
    file.accept = 'image/*';
    file.setAttribute('aria-label', `Upload an image for ${w.name}`);
    file.addEventListener('change', async () => {
        const f = file.files[0];
        if (!f) return;
        const form = new FormData();
        form.append('image', f, f.name);
        form.append('overwrite', 'true');
        const res = await fetch('/upload/image', { method: 'POST', body: form });
        if (!res.ok) {
            file.setCustomValidity(`upload failed (HTTP ${res.status})`);
            file.reportValidity();
            return;
        }
        const r = await res.json();
        const name = r.subfolder ? `${r.subfolder}/${r.name}` : r.name;
        if (Array.isArray(w.options.values) && !w.options.values.includes(name)) w.options.values.push(name);
        const o = document.createElement('option');
        o.value = o.textContent = name;
        sel.append(o);
        sel.value = name;
        w.value = name;
        onChange();
    });
    return file;
}

/** Fills `form` with the controls of node's widgets (a hint when node is null). */
export function renderInspector(form, node, onChange) {
    form.replaceChildren();
    if (!node) {
        const p = document.createElement('p');
        p.className = 'hint';
        p.textContent = 'Select a node to edit its values here.';
        form.append(p);
        return;
    }
    const h = document.createElement('h3');
    h.textContent = `${node.title} #${node.id}`;
    form.append(h);
    (node.widgets ?? []).forEach((w, i) => {
        if (w.type === 'button') return;
        const id = `insp-${node.id}-${i}`;
        const label = document.createElement('label');
        label.htmlFor = id;
        label.textContent = w.label ?? w.name;
        const [el, read] = control(w, id);
        el.id = id;
        el.name = w.name;
        el.addEventListener('change', () => {
            w.value = read();
            w.callback?.(w.value);
            onChange();
        });
        form.append(label, el);
        if (w.type === 'combo' && w.options?.image_upload) form.append(uploader(w, el, onChange));
    });
    if (!node.widgets?.length) {
        const p = document.createElement('p');
        p.className = 'hint';
        p.textContent = 'This node has no values to set.';
        form.append(p);
    }
}
