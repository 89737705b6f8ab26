#!/usr/bin/env bash
# The A1111 API of `sdc serve` driven as A1111 clients do, on the tiny
# reference model: txt2img (PNG + infotext + seeds, same seed = same
# bytes), img2img with a mask, FastAPI-style 422s, 404 for unknown models,
# options, lists, png-info, progress with a live preview during a long job,
# interrupt, and a clean SIGTERM shutdown.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/server/lib.sh
srv_models
ln -s "$(abspath tests/data/control/lora_kohya.safetensors)" "$MODELS/loras/"
srv_start

# idat FILE: checksum of the pixel data (PNG text chunks differ with the prompt)
idat() { tail -c +"$(grep -obUa IDAT "$1" | head -n 1 | cut -d: -f1)" "$1" | md5sum; }

# lists
[ "$(get /sdapi/v1/samplers)" = 200 ] || fail "samplers"
jq -e 'map(.name) | index("Euler a") and index("DPM++ 2M")' "$T/body" >/dev/null || fail "sampler names: $(cat "$T/body")"
jq -e '.[] | select(.name == "DPM++ 2M") | .options.scheduler == "karras" and (.aliases | index("k_dpmpp_2m"))' "$T/body" >/dev/null ||
    fail "DPM++ 2M entry"
[ "$(get /sdapi/v1/schedulers)" = 200 ] && jq -e 'map(.name) | index("karras") and index("automatic")' "$T/body" >/dev/null || fail "schedulers"
[ "$(get /sdapi/v1/sd-models)" = 200 ] || fail "sd-models"
jq -e '.[0].title == "sd15-random-tiny.safetensors" and .[0].model_name == "sd15-random-tiny" and (.[0].config | endswith(".yaml"))
    and .[0].hash == null' "$T/body" >/dev/null || fail "sd-models: $(cat "$T/body")"
for p in loras upscalers sd-vae; do
    [ "$(get /sdapi/v1/$p)" = 200 ] && jq -e 'type == "array"' "$T/body" >/dev/null || fail "$p"
done
[ "$(get /sdapi/v1/embeddings)" = 200 ] && jq -e '.loaded == {}' "$T/body" >/dev/null || fail "embeddings"
[ "$(get /sdapi/v1/memory)" = 200 ] && jq -e '.ram.total > 0' "$T/body" >/dev/null || fail "memory"
[ "$(get /sdapi/v1/cmd-flags)" = 200 ] && jq -e '.api == true and .listen == false' "$T/body" >/dev/null || fail "cmd-flags"

# txt2img: two images, seeds 42 and 43, PNG with the infotext
REQ='{"prompt": "a red fox", "negative_prompt": "blurry", "seed": 42, "steps": 3, "width": 64, "height": 64,
      "batch_size": 2, "sampler_name": "Euler a", "cfg_scale": 6}'
[ "$(post /sdapi/v1/txt2img "$REQ")" = 200 ] || fail "txt2img: $(cat "$T/body")"
cp "$T/body" "$T/t2i.json"
[ "$(jq '.images | length' "$T/t2i.json")" = 2 ] || fail "expected 2 images"
jq -r '.info' "$T/t2i.json" >"$T/info.json"
jq -e '.seed == 42 and .all_seeds == [42, 43] and .width == 64 and .sampler_name == "Euler a" and (.infotexts | length) == 2' \
    "$T/info.json" >/dev/null || fail "info: $(cat "$T/info.json")"
jq -e '.parameters.prompt == "a red fox" and .parameters.seed == 42' "$T/t2i.json" >/dev/null || fail "parameters echo"
jq -r '.images[0]' "$T/t2i.json" | base64 -d >"$T/a.png"
jq -r '.images[1]' "$T/t2i.json" | base64 -d >"$T/b.png"
png_ok "$T/a.png" || fail "image 0 is not a PNG"
grep -a -q "Steps: 3, Sampler: Euler a" "$T/a.png" || fail "PNG lacks the infotext"
# loading hashed the checkpoint, as A1111 does: infotext, info and the listing carry its SHA-256
SHA=$(sha256sum "$(abspath "$SHARED/reference/model/sd15-random-tiny.safetensors")" | cut -c1-64)
grep -a -q "Model hash: ${SHA:0:10}, Model: sd15-random-tiny" "$T/a.png" || fail "PNG lacks the model hash ${SHA:0:10}"
jq -e --arg h "${SHA:0:10}" '.sd_model_hash == $h' "$T/info.json" >/dev/null || fail "info sd_model_hash"
[ "$(get /sdapi/v1/sd-models)" = 200 ] && jq -e --arg h "${SHA:0:10}" --arg s "$SHA" \
    '.[0].title == "sd15-random-tiny.safetensors [" + $h + "]" and .[0].hash == $h and .[0].sha256 == $s' "$T/body" >/dev/null ||
    fail "sd-models after a load: $(cat "$T/body")"
# the same settings through the CLI (A1111's philox noise, started at noise x sigma_max and
# truncated to 8 bits as A1111 does) give the same pixels; sgm_noise_multiplier switches to
# sqrt(1 + sigma_max^2)
for sgm in false true; do
    [ "$(post /sdapi/v1/txt2img "{\"prompt\": \"a red fox\", \"negative_prompt\": \"blurry\", \"seed\": 7, \"steps\": 3,
        \"width\": 64, \"height\": 64, \"sampler_name\": \"Euler\", \"scheduler\": \"karras\", \"cfg_scale\": 6,
        \"override_settings\": {\"sgm_noise_multiplier\": $sgm}}")" = 200 ] || fail "txt2img sgm=$sgm: $(cat "$T/body")"
    jq -r '.images[0]' "$T/body" | base64 -d >"$T/api_$sgm.png"
    rule=sigma && [ $sgm = true ] && rule=vp
    "$SDC" generate --model "$SHARED/reference/model/sd15-random-tiny.safetensors" --vocab "$SHARED/clip" \
        -p "a red fox" -n "blurry" --seed 7 --steps 3 -W 64 -H 64 --sampler euler --scheduler karras --cfg-scale 6 \
        --rng philox --init-noise $rule --rounding truncate -o "$T/cli_$sgm.png" >/dev/null 2>&1 || fail "CLI generate ($rule)"
    "$SDC" compare "$T/api_$sgm.png" "$T/cli_$sgm.png" --tol 0 >"$T/cmp" || fail "API vs CLI, sgm=$sgm: $(cat "$T/cmp")"
done
"$SDC" compare "$T/api_false.png" "$T/api_true.png" --tol 0 >/dev/null && fail "sgm_noise_multiplier changed nothing"
# hires fix: twice the size, A1111's infotext keys, the same pixels as the CLI's --hires-*
HR='"prompt": "a red fox", "seed": 9, "steps": 3, "width": 64, "height": 48, "sampler_name": "Euler", "scheduler": "karras",
    "cfg_scale": 6, "enable_hr": true, "hr_scale": 2, "hr_second_pass_steps": 2, "denoising_strength": 0.6'
[ "$(post /sdapi/v1/txt2img "{$HR, \"hr_upscaler\": \"Latent\"}")" = 200 ] || fail "hires: $(cat "$T/body")"
jq -r '.images[0]' "$T/body" | base64 -d >"$T/hr_api.png"
grep -a -q "Size: 64x48, Model hash: [0-9a-f]*, Model: sd15-random-tiny, Denoising strength: 0.6, Hires upscale: 2, Hires steps: 2, Hires upscaler: Latent" \
    "$T/hr_api.png" || fail "hires infotext: $(jq -r '.info' "$T/body" | jq -r '.infotexts[0]')"
"$SDC" generate --model "$SHARED/reference/model/sd15-random-tiny.safetensors" --vocab "$SHARED/clip" -p "a red fox" \
    --seed 9 --steps 3 -W 64 -H 48 --sampler euler --scheduler karras --cfg-scale 6 --rng philox --init-noise sigma \
    --rounding truncate --hires-scale 2 --hires-steps 2 --hires-denoise 0.6 -o "$T/hr_cli.png" >/dev/null 2>&1 || fail "CLI hires"
"$SDC" compare "$T/hr_api.png" "$T/hr_cli.png" --tol 0 >"$T/cmp" || fail "hires API vs CLI: $(cat "$T/cmp")"
grep -q "image 128x96x3" "$T/cmp" || fail "hires size: $(cat "$T/cmp")"
[ "$(post /sdapi/v1/txt2img "{$HR, \"hr_upscaler\": \"R-ESRGAN 4x+\"}")" = 422 ] || fail "unknown hires upscaler not 422"
# the hires pass's own prompt and sampler, as the CLI's --hires-prompt / --hires-sampler
[ "$(post /sdapi/v1/txt2img "{$HR, \"hr_upscaler\": \"Lanczos\", \"hr_prompt\": \"a red fox, detailed fur\",
    \"hr_sampler_name\": \"DPM++ 2M\"}")" = 200 ] || fail "hires prompt: $(cat "$T/body")"
jq -r '.images[0]' "$T/body" | base64 -d >"$T/hr2_api.png"
grep -a -q 'Hires upscaler: Lanczos, Hires prompt: "a red fox, detailed fur", Hires sampler: DPM++ 2M' "$T/hr2_api.png" ||
    fail "hires prompt infotext: $(jq -r '.info' "$T/body" | jq -r '.infotexts[0]')"
"$SDC" generate --model "$SHARED/reference/model/sd15-random-tiny.safetensors" --vocab "$SHARED/clip" -p "a red fox" \
    --seed 9 --steps 3 -W 64 -H 48 --sampler euler --scheduler karras --cfg-scale 6 --rng philox --init-noise sigma \
    --rounding truncate --hires-scale 2 --hires-steps 2 --hires-denoise 0.6 --hires-upscaler Lanczos \
    --hires-prompt "a red fox, detailed fur" --hires-sampler "DPM++ 2M" -o "$T/hr2_cli.png" >/dev/null 2>&1 || fail "CLI hires 2"
"$SDC" compare "$T/hr2_api.png" "$T/hr2_cli.png" --tol 0 >"$T/cmp" || fail "hires prompt API vs CLI: $(cat "$T/cmp")"
[ "$(post /sdapi/v1/txt2img "{$HR, \"hr_upscaler\": \"Lanczos\"}")" = 200 ] || fail "hires Lanczos: $(cat "$T/body")"
jq -r '.images[0]' "$T/body" | base64 -d >"$T/hr3_api.png"
"$SDC" compare "$T/hr2_api.png" "$T/hr3_api.png" --tol 0 >/dev/null && fail "hires prompt / sampler changed nothing"
[ "$(post /sdapi/v1/txt2img "{$HR, \"hr_upscaler\": \"Lanczos\", \"hr_prompt\": \"a red fox, detailed fur\"}")" = 200 ] ||
    fail "hires prompt only: $(cat "$T/body")"
jq -r '.images[0]' "$T/body" | base64 -d >"$T/hr4_api.png"
"$SDC" compare "$T/hr4_api.png" "$T/hr3_api.png" --tol 0 >/dev/null && fail "hr_prompt alone changed no pixel"
# A1111 clients send the title back
[ "$(post /sdapi/v1/txt2img "{\"prompt\": \"x\", \"steps\": 1, \"width\": 64, \"height\": 64, \"override_settings\": {\"sd_model_checkpoint\": \"sd15-random-tiny.safetensors [${SHA:0:10}]\"}}")" = 200 ] ||
    fail "checkpoint by title with hash: $(cat "$T/body")"
grep -a -q "Seed: 42" "$T/a.png" && grep -a -q "Seed: 43" "$T/b.png" || fail "per-image seeds missing from the PNGs"
grep -a -q "Negative prompt: blurry" "$T/a.png" || fail "negative prompt missing"
# the same request again gives the same bytes; another seed does not
[ "$(post /sdapi/v1/txt2img "$REQ")" = 200 ] || fail "txt2img rerun"
[ "$(jq -r '.images[0]' "$T/body")" = "$(jq -r '.images[0]' "$T/t2i.json")" ] || fail "same seed, different image"
[ "$(post /sdapi/v1/txt2img '{"prompt": "a red fox", "seed": 7, "steps": 3, "width": 64, "height": 64}')" = 200 ] || fail "seed 7"
[ "$(jq -r '.images[0]' "$T/body")" != "$(jq -r '.images[0]' "$T/t2i.json")" ] || fail "another seed, same image"

# LoRA prompt tags: <lora:NAME:W> changes the picture, weight 0 does not, unknown names are skipped
[ "$(get /sdapi/v1/loras)" = 200 ] && jq -e '.[0].name == "lora_kohya"' "$T/body" >/dev/null || fail "loras: $(cat "$T/body")"
lora_img() { # PROMPT -> $T/lora.png
    [ "$(post /sdapi/v1/txt2img "{\"prompt\": \"$1\", \"seed\": 42, \"steps\": 3, \"width\": 64, \"height\": 64, \"sampler_name\": \"Euler a\", \"cfg_scale\": 6, \"negative_prompt\": \"blurry\"}")" = 200 ] ||
        fail "txt2img '$1': $(cat "$T/body")"
    jq -r '.images[0]' "$T/body" | base64 -d >"$T/lora.png"
}
lora_img "a red fox <lora:lora_kohya:1>"
jq -r '.info' "$T/body" | jq -e '.warnings == []' >/dev/null || fail "LoRA warnings"
grep -a -q "<lora:lora_kohya:1>" "$T/lora.png" || fail "the tag is not in the infotext"
[ "$(idat "$T/lora.png")" != "$(idat "$T/a.png")" ] || fail "the LoRA changed nothing"
lora_img "a red fox <lora:lora_kohya:0>"
[ "$(idat "$T/lora.png")" = "$(idat "$T/a.png")" ] || fail "a LoRA at weight 0 changed the picture"
lora_img "a red fox <lora:no_such_lora:1>"
jq -r '.info' "$T/body" | jq -e '.warnings[0] | contains("no_such_lora")' >/dev/null || fail "no warning for an unknown LoRA"
[ "$(idat "$T/lora.png")" = "$(idat "$T/a.png")" ] || fail "an unknown LoRA changed the picture"

# png-info reads the infotext back
IMG=$(jq -r '.images[0]' "$T/t2i.json")
[ "$(post /sdapi/v1/png-info "{\"image\": \"data:image/png;base64,$IMG\"}")" = 200 ] || fail "png-info"
jq -e '(.info | startswith("a red fox")) and .parameters.Seed == "42" and .parameters["Size-1"] == "64"' "$T/body" >/dev/null ||
    fail "png-info: $(cat "$T/body")"

# img2img with a mask (white = repaint) made from the first image
MASK=$(jq -r '.images[1]' "$T/t2i.json")
I2I="{\"init_images\": [\"$IMG\"], \"mask\": \"$MASK\", \"prompt\": \"a blue fox\", \"denoising_strength\": 0.6,
      \"steps\": 4, \"width\": 64, \"height\": 64, \"seed\": 5, \"mask_blur\": 2}"
[ "$(post /sdapi/v1/img2img "$I2I")" = 200 ] || fail "img2img: $(cat "$T/body")"
jq -r '.images[0]' "$T/body" | base64 -d >"$T/i2i.png"
png_ok "$T/i2i.png" && grep -a -q "Denoising strength: 0.6" "$T/i2i.png" || fail "img2img image / infotext"
jq -e '.parameters.init_images == null' "$T/body" >/dev/null || fail "img2img echoes the images"
[ "$(post /sdapi/v1/img2img '{"prompt": "x", "steps": 2}')" = 422 ] || fail "img2img without an image must be 422"
# inpainting_fill: 1 = original (the default above), 2 latent noise changes the picture, 0 (fill) warns
[ "$(post /sdapi/v1/img2img "${I2I%\}}, \"inpainting_fill\": 2}")" = 200 ] || fail "latent noise: $(cat "$T/body")"
jq -r '.images[0]' "$T/body" | base64 -d | cmp -s - "$T/i2i.png" && fail "inpainting_fill 2 gave the original-fill picture"
[ "$(post /sdapi/v1/img2img "${I2I%\}}, \"inpainting_fill\": 0}")" = 200 ] || fail "fill 0: $(cat "$T/body")"
jq -r '.info' "$T/body" | jq -e '.warnings | any(test("inpainting_fill 0"))' >/dev/null || fail "no warning for inpainting_fill 0"
jq -r '.images[0]' "$T/body" | base64 -d | cmp -s - "$T/i2i.png" || fail "inpainting_fill 0 should start from the original"

# "only masked" inpainting (inpaint_full_res): a 48x40 picture inpainted at 32x32 around its
# mask and pasted back; the CLI with A1111's conventions gives the same pixels
"$SDC" generate --model "$SHARED/reference/model/sd15-random-tiny.safetensors" --vocab "$SHARED/clip" -p "a wall" \
    -W 48 -H 40 --steps 2 --seed 3 -o "$T/wall.png" >/dev/null 2>&1 || fail "CLI txt2img for the wall"
WALL=$(base64 -w0 "$T/wall.png")
WMASK=$(base64 -w0 tests/data/image/mask_src.png)
OM="{\"init_images\": [\"$WALL\"], \"mask\": \"$WMASK\", \"inpaint_full_res\": true, \"inpaint_full_res_padding\": 4,
     \"prompt\": \"a window\", \"denoising_strength\": 0.8, \"steps\": 4, \"width\": 32, \"height\": 32, \"seed\": 11,
     \"sampler_name\": \"Euler\", \"scheduler\": \"karras\", \"cfg_scale\": 6, \"mask_blur\": 2}"
[ "$(post /sdapi/v1/img2img "$OM")" = 200 ] || fail "only masked: $(cat "$T/body")"
jq -r '.images[0]' "$T/body" | base64 -d >"$T/om_api.png"
grep -a -q "Mask blur: 2, Inpaint area: Only masked, Masked area padding: 4" "$T/om_api.png" || fail "only-masked infotext"
"$SDC" generate --model "$SHARED/reference/model/sd15-random-tiny.safetensors" --vocab "$SHARED/clip" -p "a window" \
    -i "$T/wall.png" --mask tests/data/image/mask_src.png --inpaint-area masked --inpaint-padding 4 --mask-blur 2 \
    --strength 0.8 --steps 4 -W 32 -H 32 --seed 11 --sampler euler --scheduler karras --cfg-scale 6 --rng philox \
    --strength-rule a1111 --rounding truncate -o "$T/om_cli.png" >/dev/null 2>&1 || fail "CLI only masked"
"$SDC" compare "$T/om_api.png" "$T/om_cli.png" --tol 0 >"$T/cmp" || fail "only masked API vs CLI: $(cat "$T/cmp")"
grep -q "image 48x40x3" "$T/cmp" || fail "only-masked size: $(cat "$T/cmp")"
"$SDC" compare "$T/om_api.png" "$T/wall.png" --tol 0 >/dev/null && fail "only masked changed nothing"

# validation: FastAPI-style details
[ "$(post /sdapi/v1/txt2img '{"steps": "many", "width": 4, "cfg_scale": "x"}')" = 422 ] || fail "bad fields not 422"
jq -e '(.detail | length) == 3 and (.detail[0].loc == ["body", "steps"])' "$T/body" >/dev/null || fail "422 detail: $(cat "$T/body")"
[ "$(post /sdapi/v1/txt2img '{"sampler_name": "No Such Sampler"}')" = 422 ] || fail "unknown sampler not 422"
[ "$(post /sdapi/v1/txt2img '{not json')" = 422 ] || fail "bad JSON not 422"
[ "$(post /sdapi/v1/txt2img '{"override_settings": {"sd_model_checkpoint": "nope.safetensors"}}')" = 404 ] || fail "unknown model not 404"
[ "$(get /sdapi/v1/nothing)" = 404 ] || fail "unknown route not 404"

# options: the model and clip skip
# (hashed by the generations above: A1111's title with the short hash)
[ "$(get /sdapi/v1/options)" = 200 ] && jq -e --arg s "$SHA" \
    '.sd_model_checkpoint == "sd15-random-tiny.safetensors [" + $s[0:10] + "]" and .sd_checkpoint_hash == $s' "$T/body" >/dev/null ||
    fail "options: $(cat "$T/body")"
[ "$(post /sdapi/v1/options '{"CLIP_stop_at_last_layers": 2, "sd_model_checkpoint": "sd15-random-tiny"}')" = 200 ] ||
    fail "set options: $(cat "$T/body")"
[ "$(get /sdapi/v1/options)" = 200 ] && jq -e '.CLIP_stop_at_last_layers == 2' "$T/body" >/dev/null || fail "clip skip not kept"
[ "$(post /sdapi/v1/options '{"sd_model_checkpoint": "missing"}')" = 404 ] || fail "unknown checkpoint in options not 404"
[ "$(post /sdapi/v1/options '{"CLIP_stop_at_last_layers": 99}')" = 422 ] || fail "bad clip skip not 422"
[ "$(post /sdapi/v1/txt2img '{"prompt": "x", "seed": 1, "steps": 2, "width": 64, "height": 64}')" = 200 ] || fail "clip skip 2 run"
jq -r '.images[0]' "$T/body" | base64 -d | grep -a -q "Clip skip: 2" || fail "clip skip not in the infotext"
post /sdapi/v1/options '{"CLIP_stop_at_last_layers": 1}' >/dev/null

# progress during a long job, then interrupt
[ "$(get /sdapi/v1/progress)" = 200 ] && jq -e '.progress == 0 and .state.job_count == 0' "$T/body" >/dev/null || fail "idle progress"
curl -s -o "$T/long.json" -H 'Content-Type: application/json' \
    -d '{"prompt": "long", "steps": 1000, "width": 64, "height": 64, "n_iter": 2, "seed": 3}' "$URL/sdapi/v1/txt2img" &
LONG=$!
seen=0
for _ in $(seq 1 200); do
    sleep 0.1
    get /sdapi/v1/progress >/dev/null
    if jq -e '.state.sampling_step >= 2 and .state.job_count == 2 and .progress > 0 and (.current_image | type) == "string"' \
        "$T/body" >/dev/null; then
        seen=1
        break
    fi
done
[ $seen = 1 ] || fail "no progress with a preview seen: $(cat "$T/body")"
jq -r '.current_image' "$T/body" | base64 -d >"$T/preview.png"
png_ok "$T/preview.png" || fail "the preview is not a PNG"
[ "$(post /sdapi/v1/interrupt '')" = 200 ] || fail "interrupt"
wait $LONG
jq -e '.images | length == 0' "$T/long.json" >/dev/null || fail "interrupted job: $(head -c 300 "$T/long.json")"
[ "$(get /sdapi/v1/progress)" = 200 ] && jq -e '.state.interrupted == true' "$T/body" >/dev/null || fail "interrupted flag"
# the worker is free again
[ "$(post /sdapi/v1/txt2img '{"prompt": "after", "steps": 2, "width": 64, "height": 64}')" = 200 ] || fail "run after interrupt"

# saved images
[ "$(post /sdapi/v1/txt2img '{"prompt": "keep", "steps": 2, "width": 64, "height": 64, "seed": 9, "save_images": true, "send_images": false}')" = 200 ] ||
    fail "save_images"
jq -e '.images == []' "$T/body" >/dev/null || fail "send_images false still sent images"
ls "$T/output/txt2img-images/"*-9.png >/dev/null 2>&1 || fail "no saved image in output/txt2img-images"

srv_stop

# a checkpoint in a subfolder uses MODELS/bpe_simple_vocab_16e6.txt.gz (the server runs away from
# the repository here, so the development fallback ../shared/clip cannot help)
mkdir -p "$MODELS/sub" && mv "$MODELS"/sd15-random-tiny.* "$MODELS/sub/"
ln -s "$(abspath "$SHARED/reference/model/sd15-random-tiny-diffusers")" "$MODELS/"
SRV_CWD=$T srv_start
# a diffusers folder is a checkpoint too (listed by its folder name; brings its own tokenizer)
[ "$(get /sdapi/v1/sd-models)" = 200 ] && jq -e 'map(.title | sub(" \\[[0-9a-f]{10}\\]$"; "")) == ["sd15-random-tiny-diffusers", "sub/sd15-random-tiny.safetensors"]' \
    "$T/body" >/dev/null || fail "listing with a diffusers folder: $(cat "$T/body")"
[ "$(post /sdapi/v1/txt2img '{"prompt": "x", "steps": 2, "width": 64, "height": 64, "override_settings": {"sd_model_checkpoint": "sd15-random-tiny-diffusers"}}')" = 200 ] ||
    fail "diffusers folder: $(cat "$T/body")"
[ "$(post /sdapi/v1/txt2img '{"prompt": "x", "steps": 2, "width": 64, "height": 64, "override_settings": {"sd_model_checkpoint": "sub/sd15-random-tiny.safetensors"}}')" = 200 ] ||
    fail "checkpoint in a subfolder: $(cat "$T/body")"
srv_stop
echo "ok"
