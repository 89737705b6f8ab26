#!/usr/bin/env bash
# sdc's own endpoints and TAESD: /sdc/v1/info, /sdc/v1/doodle (a picture
# from a sketch; a newer request from the same client cancels the older
# one with 409), TAESD previews in /sdapi/v1/progress (image-sized, not
# latent-sized) and the "taesd" VAE in a ComfyUI graph. TAESD here is the
# random test decoder / encoder of tests/data/taesd (4 latent channels).
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/server/lib.sh
srv_models
cp tests/data/taesd/taesd_decoder.safetensors tests/data/taesd/taesd_encoder.safetensors "$MODELS/vae/"
srv_start

# png_size FILE: "WxH" from the IHDR chunk
png_size() { echo "$((16#$(od -An -tx1 -j16 -N4 "$1" | tr -d ' \n')))x$((16#$(od -An -tx1 -j20 -N4 "$1" | tr -d ' \n')))"; }

[ "$(get /sdc/v1/info)" = 200 ] || fail "info"
jq -e '.taesd == true and .models == ["sd15-random-tiny.safetensors"] and .default_model == "sd15-random-tiny.safetensors" and
    (.samplers | index("euler")) and (.schedulers | index("karras")) and .doodle.controlnet == null' "$T/body" >/dev/null ||
    fail "info: $(cat "$T/body")"

# a sketch: dark strokes on white would do; any PNG is a valid sketch
[ "$(post /sdapi/v1/txt2img '{"prompt": "x", "steps": 2, "width": 64, "height": 64, "seed": 1}')" = 200 ] || fail "txt2img"
SKETCH=$(jq -r '.images[0]' "$T/body")
DOODLE="{\"image\": \"$SKETCH\", \"prompt\": \"a house\", \"width\": 64, \"height\": 64, \"steps\": 2, \"seed\": 4, \"frame_id\": 17}"
[ "$(post /sdc/v1/doodle "$DOODLE")" = 200 ] || fail "doodle: $(cat "$T/body")"
jq -e '.frame_id == 17 and .seconds > 0 and .seed == 4' "$T/body" >/dev/null || fail "doodle answer: $(head -c 200 "$T/body")"
jq -r '.image' "$T/body" | base64 -d >"$T/d1.png"
png_ok "$T/d1.png" && [ "$(png_size "$T/d1.png")" = 64x64 ] || fail "doodle image"
[ "$(post /sdc/v1/doodle "$DOODLE")" = 200 ] || fail "doodle again"
jq -r '.image' "$T/body" | base64 -d | cmp -s - "$T/d1.png" || fail "same doodle, different picture"
# the prompts' conditioning is kept between frames: a new prompt must not reuse it
[ "$(post /sdc/v1/doodle "${DOODLE/a house/a boat}")" = 200 ] || fail "doodle, new prompt"
jq -r '.image' "$T/body" | base64 -d | cmp -s - "$T/d1.png" && fail "a new prompt gave the old picture"
[ "$(post /sdc/v1/doodle "$DOODLE")" = 200 ] || fail "doodle, first prompt again"
jq -r '.image' "$T/body" | base64 -d | cmp -s - "$T/d1.png" || fail "back to the first prompt, different picture"
[ "$(post /sdc/v1/doodle '{"prompt": "no image"}')" = 422 ] || fail "doodle without an image"
[ "$(post /sdc/v1/doodle "{\"image\": \"$SKETCH\", \"controlnet\": \"missing\"}")" = 404 ] || fail "unknown ControlNet not 404"

# the newest drawing wins: the older request answers 409
curl -s -o "$T/old.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d "{\"image\": \"$SKETCH\", \"prompt\": \"slow\", \"width\": 64, \"height\": 64, \"steps\": 3000, \"client_id\": \"pad\"}" \
    "$URL/sdc/v1/doodle" >"$T/old.code" &
OLD=$!
for _ in $(seq 1 100); do
    get /sdapi/v1/progress >/dev/null
    jq -e '.state.job == "doodle" and .state.sampling_step >= 1' "$T/body" >/dev/null && break
    sleep 0.1
done
[ "$(post /sdc/v1/doodle "{\"image\": \"$SKETCH\", \"prompt\": \"fast\", \"width\": 64, \"height\": 64, \"steps\": 2, \"client_id\": \"pad\"}")" = 200 ] ||
    fail "the newer doodle failed: $(cat "$T/body")"
wait $OLD
[ "$(cat "$T/old.code")" = 409 ] && jq -e '.cancelled == true' "$T/old.json" >/dev/null || fail "the older doodle: $(cat "$T/old.code") $(cat "$T/old.json")"

# previews come from TAESD: the image's size, not the latent's (8x8)
curl -s -o /dev/null -H 'Content-Type: application/json' \
    -d '{"prompt": "long", "steps": 3000, "width": 64, "height": 64}' "$URL/sdapi/v1/txt2img" &
LONG=$!
seen=""
for _ in $(seq 1 150); do
    sleep 0.1
    get /sdapi/v1/progress >/dev/null
    if jq -e '(.current_image | type) == "string"' "$T/body" >/dev/null; then
        jq -r '.current_image' "$T/body" | base64 -d >"$T/preview.png"
        seen=$(png_size "$T/preview.png")
        break
    fi
done
post /sdapi/v1/interrupt '' >/dev/null
wait $LONG
[ "$seen" = 64x64 ] || fail "TAESD preview size: '$seen'"

# the "taesd" VAE in a graph
[ "$(get /object_info/VAELoader)" = 200 ] && jq -e '.VAELoader.input.required.vae_name[0] | index("taesd")' "$T/body" >/dev/null ||
    fail "VAELoader lacks taesd"
jq '.["10"] = {class_type: "VAELoader", inputs: {vae_name: "taesd"}} | .["8"].inputs.vae = ["10", 0] | {prompt: .}' \
    tests/data/server/txt2img_api.json >"$T/g.json"
[ "$(post_file /prompt "$T/g.json")" = 200 ] || fail "taesd graph: $(cat "$T/body")"
ID=$(jq -r '.prompt_id' "$T/body")
for _ in $(seq 1 300); do
    get "/history/$ID" >/dev/null
    jq -e --arg id "$ID" '.[$id].status.completed != null' "$T/body" >/dev/null && break
    sleep 0.1
done
jq -e --arg id "$ID" '.[$id].status.status_str == "success"' "$T/body" >/dev/null || fail "taesd graph run: $(head -c 500 "$T/body")"

srv_stop
echo "ok"
