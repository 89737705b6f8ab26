// A1111 "infotext" (the `parameters` text of a generated PNG and the `infotexts` of an API
// reply) parsed for the "reuse parameters" action: prompt, negative prompt and the last line of
// "Key: value" pairs, read with A1111's own rule (a value is bare up to the next comma, or a
// JSON string in quotes). It only reads; formatting is the server's job (src/image/infotext.c).
// Pure module: runs in the browser and in Node (tests/browser/unit.mjs).

const RE_PARAM = /\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/gu;

function unquote(v) {
    if (v.length >= 2 && v[0] === '"' && v[v.length - 1] === '"') {
        try {
            return JSON.parse(v);
        } catch {
            return v;
        }
    }
    return v;
}

function paramPairs(line) {
    const out = [];
    for (const m of line.matchAll(RE_PARAM)) out.push([m[1].trim(), unquote(m[2].trim())]);
    return out;
}

/**
 * Splits an infotext into {prompt, negative_prompt, params}; params maps each key of the last
 * line to its (unquoted) text. The last line counts as parameters only when it holds at least
 * three pairs, as in A1111; otherwise everything is prompt.
 */
export function parseInfotext(text) {
    const lines = String(text ?? '').trim().split('\n');
    let params = {};
    if (lines.length > 0) {
        const pairs = paramPairs(lines[lines.length - 1]);
        if (pairs.length >= 3) {
            params = Object.fromEntries(pairs);
            lines.pop();
        }
    }
    const prompt = [];
    const negative = [];
    let inNegative = false;
    for (const raw of lines) {
        const line = raw.trim();
        if (line.startsWith('Negative prompt:')) {
            inNegative = true;
            negative.push(line.slice('Negative prompt:'.length).trim());
        } else {
            (inNegative ? negative : prompt).push(line);
        }
    }
    return { prompt: prompt.join('\n'), negative_prompt: negative.join('\n'), params };
}

function num(v) {
    const x = Number(v);
    return v !== undefined && v !== '' && Number.isFinite(x) ? x : undefined;
}

/**
 * The settings-form values an infotext carries, in A1111 API names (prompt, negative_prompt,
 * steps, sampler_name, scheduler, cfg_scale, seed, width, height, denoising_strength,
 * model). Keys that the text lacks are absent, so a caller sets only what it knows.
 */
export function infotextToSettings(text) {
    const { prompt, negative_prompt, params } = parseInfotext(text);
    const out = { prompt, negative_prompt };
    const set = (key, value) => {
        if (value !== undefined) out[key] = value;
    };
    set('steps', num(params.Steps));
    set('sampler_name', params.Sampler);
    set('scheduler', params['Schedule type']);
    set('cfg_scale', num(params['CFG scale']));
    set('seed', num(params.Seed));
    set('denoising_strength', num(params['Denoising strength']));
    set('model', params.Model);
    set('clip_skip', num(params['Clip skip']));
    const size = /^(\d+)x(\d+)$/.exec(params.Size ?? '');
    if (size) {
        out.width = Number(size[1]);
        out.height = Number(size[2]);
    }
    return out;
}
