// HTTP helpers shared by the views: JSON requests with a readable error message, and files
// read as base64 for the JSON APIs. Knows nothing about any one endpoint.

/** Error thrown for a failed request: message is the server's own text where it gave one. */
export class ApiError extends Error {
    constructor(message, status, body) {
        super(message);
        this.status = status;
        this.body = body;
    }
}

function messageOf(status, body, text) {
    const b = body && typeof body === 'object' ? body : null;
    const e = b?.error;
    const detail = Array.isArray(b?.detail)
        ? b.detail.map((d) => (typeof d === 'string' ? d : `${(d?.loc ?? []).join('.')}: ${d?.msg ?? ''}`)).join('; ')
        : b?.detail;
    const parts = [
        typeof e === 'string' ? e : e?.message,
        typeof detail === 'string' ? detail : null,
        b?.errors,
        b?.message,
    ].filter(Boolean);
    return parts.length ? `${parts.join(': ')} (HTTP ${status})` : `HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`;
}

/** fetch() that sends/receives JSON; throws ApiError for non-2xx replies. */
export async function api(path, { method, body, signal } = {}) {
    const opts = { method: method ?? (body === undefined ? 'GET' : 'POST'), signal, headers: {} };
    if (body !== undefined) {
        opts.headers['Content-Type'] = 'application/json';
        opts.body = JSON.stringify(body);
    }
    const res = await fetch(path, opts);
    const text = await res.text();
    let json = null;
    try {
        json = text ? JSON.parse(text) : null;
    } catch {
        json = null;
    }
    if (!res.ok) throw new ApiError(messageOf(res.status, json, text), res.status, json);
    return json;
}

/** GET that gives `fallback` instead of throwing (for optional endpoints). */
export async function apiOr(path, fallback) {
    try {
        return (await api(path)) ?? fallback;
    } catch {
        return fallback;
    }
}

/** The base64 text (no data: prefix) of a Blob/File. */
export function blobToBase64(blob) {
    return new Promise((resolve, reject) => {
        const r = new FileReader();
        r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ''));
        r.onerror = () => reject(r.error);
        r.readAsDataURL(blob);
    });
}

/** A canvas as base64 PNG (no data: prefix). */
export function canvasToBase64(canvas) {
    return new Promise((resolve, reject) => {
        canvas.toBlob((b) => (b ? blobToBase64(b).then(resolve, reject) : reject(new Error('canvas is empty'))), 'image/png');
    });
}

/** Loads an image (URL or Blob) into an HTMLImageElement. */
export function loadImage(src) {
    return new Promise((resolve, reject) => {
        const img = new Image();
        const url = src instanceof Blob ? URL.createObjectURL(src) : src;
        img.onload = () => resolve(img);
        img.onerror = () => reject(new Error('cannot decode the image'));
        img.src = url;
    });
}

/** Offers text as a file download. */
export function download(name, text, type = 'application/json') {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([text], { type }));
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/** Names of a list whose items are strings or objects with one of the given name keys. */
export function names(list, ...keys) {
    if (!Array.isArray(list)) return [];
    return list
        .map((x) => (typeof x === 'string' ? x : keys.map((k) => x?.[k]).find((v) => typeof v === 'string')))
        .filter((x) => typeof x === 'string');
}
