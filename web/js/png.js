// PNG text metadata in the browser: reads the tEXt / iTXt / zTXt chunks of a PNG file
// (A1111's `parameters`, ComfyUI's `prompt` and `workflow`) without decoding pixels.
// It does not check chunk CRCs (a damaged chunk just gives odd text) and does not write PNGs.
// Pure module: runs in the browser and in Node (tests/browser/unit.mjs).

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
const MAX_CHUNKS = 100000;

function u32(bytes, at) {
    return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

function latin1(bytes) {
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000)
        s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return s;
}

// tEXt is Latin-1 by the standard, but many tools write UTF-8 there: take UTF-8 when valid.
function textOf(bytes) {
    try {
        return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
        return latin1(bytes);
    }
}

async function inflate(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
}

function isPng(bytes) {
    if (bytes.length < 8) return false;
    return SIGNATURE.every((b, i) => bytes[i] === b);
}

// One text chunk's {key, value}; null for a chunk that is not well-formed.
async function readTextChunk(type, data) {
    const nul = data.indexOf(0);
    if (nul <= 0) return null;
    const key = latin1(data.subarray(0, nul));
    if (type === 'tEXt') return { key, value: textOf(data.subarray(nul + 1)) };
    if (type === 'zTXt') {
        if (data[nul + 1] !== 0) return null;
        return { key, value: textOf(await inflate(data.subarray(nul + 2))) };
    }
    // iTXt: keyword 0 flag method language 0 translated-keyword 0 text
    const flag = data[nul + 1];
    const langEnd = data.indexOf(0, nul + 3);
    if (langEnd < 0) return null;
    const transEnd = data.indexOf(0, langEnd + 1);
    if (transEnd < 0) return null;
    let body = data.subarray(transEnd + 1);
    if (flag === 1) body = await inflate(body);
    return { key, value: new TextDecoder('utf-8').decode(body) };
}

/**
 * Text chunks of a PNG as an object {keyword: text}; the first chunk of a keyword wins.
 * bytes: Uint8Array or ArrayBuffer of the whole file. Throws Error('not a PNG file') when the
 * signature is wrong; a truncated file gives the chunks read before the damage.
 */
export async function readPngText(bytes) {
    if (!(bytes instanceof Uint8Array)) bytes = new Uint8Array(bytes);
    if (!isPng(bytes)) throw new Error('not a PNG file');
    const out = {};
    let at = 8;
    for (let n = 0; n < MAX_CHUNKS && at + 12 <= bytes.length; n++) {
        const len = u32(bytes, at);
        const type = latin1(bytes.subarray(at + 4, at + 8));
        const end = at + 12 + len;
        if (end > bytes.length) break;
        if (type === 'tEXt' || type === 'zTXt' || type === 'iTXt') {
            let chunk = null;
            try {
                chunk = await readTextChunk(type, bytes.subarray(at + 8, at + 8 + len));
            } catch {
                chunk = null; // bad compressed data: skip this chunk only
            }
            if (chunk && !(chunk.key in out)) out[chunk.key] = chunk.value;
        }
        if (type === 'IEND') break;
        at = end;
    }
    return out;
}

/** Base64 of bytes (Uint8Array), for JSON bodies. */
export function bytesToBase64(bytes) {
    return btoa(latin1(bytes));
}

/** Bytes (Uint8Array) of a base64 string; a `data:...;base64,` prefix is allowed. */
export function base64ToBytes(b64) {
    const comma = b64.startsWith('data:') ? b64.indexOf(',') : -1;
    const bin = atob(comma >= 0 ? b64.slice(comma + 1) : b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
}

/** A `data:` URL for a base64 image; one that already is a data URL is returned as is. */
export function imageSrc(b64, mime = 'image/png') {
    if (typeof b64 !== 'string') return '';
    return b64.startsWith('data:') ? b64 : `data:${mime};base64,${b64}`;
}
