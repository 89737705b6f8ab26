#!/usr/bin/env bash
# The ComfyUI API of `sdc serve` as ComfyUI clients use it, on the tiny
# reference model: ComfyUI's default txt2img graph (tests/data/server) over
# /prompt with a WebSocket client watching the events (status with sid,
# execution_start, execution_cached, executing, progress, binary previews,
# executed, execution_success, executing null), /history, /view (a PNG whose
# "prompt" chunk is the graph), the same prompt again fully cached, invalid
# graphs answered 400 with node_errors, /upload/image + LoadImage img2img,
# /object_info, /queue, /interrupt, /system_stats.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/server/lib.sh
ws_build
srv_models
ln -s "$(abspath tests/data/control/lora_kohya.safetensors)" "$MODELS/loras/"
srv_start
GRAPH=tests/data/server/txt2img_api.json

# wait_history ID: until /history/ID has an entry (30 s)
wait_history() {
    for _ in $(seq 1 300); do
        get "/history/$1" >/dev/null
        jq -e --arg id "$1" '.[$id].status.completed != null' "$T/body" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "prompt $1 never finished"
}

# the WebSocket client first, so it sees every event of the run
"$T/ws_client" "$PORT" "/ws?clientId=e2e-client" '"node":null' 60 >"$T/ws.txt" 2>"$T/ws.err" &
WS=$!
for _ in $(seq 1 100); do grep -q '"status"' "$T/ws.txt" 2>/dev/null && break; sleep 0.1; done
head -n 1 "$T/ws.txt" | jq -e '.type == "status" and .data.sid == "e2e-client" and .data.status.exec_info.queue_remaining == 0' \
    >/dev/null || fail "first WebSocket message: $(head -n 1 "$T/ws.txt") $(cat "$T/ws.err")"

jq -n --slurpfile g "$GRAPH" '{prompt: $g[0], client_id: "e2e-client", extra_data: {extra_pnginfo: {workflow: {nodes: [], links: []}}}}' \
    >"$T/req.json"
[ "$(post_file /prompt "$T/req.json")" = 200 ] || fail "/prompt: $(cat "$T/body")"
ID=$(jq -r '.prompt_id' "$T/body")
jq -e '.node_errors == {} and (.number | type) == "number"' "$T/body" >/dev/null || fail "/prompt answer: $(cat "$T/body")"
wait $WS || fail "WebSocket client ended with $? before the run ended: $(tail -n 3 "$T/ws.txt")"

# the event sequence
grep -v '^BINARY' "$T/ws.txt" | jq -r '.type' | grep -v '^status$' | uniq | tr '\n' ' ' >"$T/types"
grep -q "execution_start execution_cached executing progress executing executed execution_success executing" "$T/types" ||
    fail "event order: $(cat "$T/types")"
grep -q '"type":"progress","data":{"value":3,"max":3' "$T/ws.txt" || fail "no final progress 3/3"
grep '"type":"executed"' "$T/ws.txt" | jq -e --arg id "$ID" '.data.node == "9" and .data.prompt_id == $id and
    .data.output.images[0].filename == "ComfyUI_00001_.png"' >/dev/null || fail "executed message"
grep -q '^BINARY .* event=1 format=2 png=1' "$T/ws.txt" || fail "no binary PNG preview frame"
tail -n 1 "$T/ws.txt" | jq -e '.data.node == null' >/dev/null || fail "last message"

# history and the image
wait_history "$ID"
jq -e --arg id "$ID" '.[$id].status.status_str == "success" and .[$id].outputs["9"].images[0].type == "output" and
    .[$id].prompt[1] == $id and .[$id].prompt[4] == ["9"]' "$T/body" >/dev/null || fail "history: $(head -c 400 "$T/body")"
[ "$(get "/view?filename=ComfyUI_00001_.png&type=output&subfolder=")" = 200 ] || fail "/view"
cp "$T/body" "$T/out.png"
png_ok "$T/out.png" || fail "/view did not return a PNG"
# the PNG's "prompt" chunk is the graph (read back through png-info)
B64=$(base64 -w0 "$T/out.png")
[ "$(post /sdapi/v1/png-info "{\"image\": \"$B64\"}")" = 200 ] || fail "png-info"
jq -r '.items.prompt' "$T/body" | jq -S . >"$T/chunk.json"
jq -S . "$GRAPH" | cmp -s - "$T/chunk.json" || fail "the prompt chunk differs from the graph"
jq -e '.items.workflow | fromjson | .links == []' "$T/body" >/dev/null || fail "no workflow chunk"
[ "$(get /history)" = 200 ] && jq -e --arg id "$ID" 'has($id)' "$T/body" >/dev/null || fail "/history"

# the same prompt again: everything cached, no new file
[ "$(post_file /prompt "$T/req.json")" = 200 ] || fail "second /prompt"
ID2=$(jq -r '.prompt_id' "$T/body")
wait_history "$ID2"
jq -e --arg id "$ID2" '.[$id].status.messages | map(select(.[0] == "execution_cached"))[0][1].nodes | length == 7' "$T/body" \
    >/dev/null || fail "second run not fully cached: $(jq -c --arg id "$ID2" '.[$id].status' "$T/body")"
jq -e --arg id "$ID2" '.[$id].outputs["9"].images[0].filename == "ComfyUI_00001_.png"' "$T/body" >/dev/null || fail "cached outputs"
[ "$(ls "$T/output" | wc -l)" = 1 ] || fail "the cached run wrote files"

# invalid graphs: 400 with ComfyUI's error shapes
bad() { # JQ-EDIT EXPECTED-TYPE NODE
    jq "{prompt: ($1)}" "$GRAPH" >"$T/bad.json" 2>/dev/null || jq -n "{prompt: ($1)}" >"$T/bad.json"
    [ "$(post_file /prompt "$T/bad.json")" = 400 ] || fail "accepted: $1"
    if [ -n "$3" ]; then
        jq -e --arg n "$3" --arg t "$2" '.node_errors[$n].errors[0].type == $t' "$T/body" >/dev/null ||
            fail "$1: expected $2 on node $3: $(cat "$T/body")"
    else
        jq -e --arg t "$2" '.error.type == $t' "$T/body" >/dev/null || fail "$1: expected $2: $(cat "$T/body")"
    fi
}
bad '.["6"].class_type = "NoSuchNode"' invalid_prompt ""
bad 'del(.["9"])' prompt_no_outputs ""
bad 'del(.["3"].inputs.seed)' required_input_missing 3
bad '.["3"].inputs.model = ["5", 0]' return_type_mismatch 3
bad '.["3"].inputs.steps = 0' value_smaller_than_min 3
bad '.["3"].inputs.sampler_name = "nope"' value_not_in_list 3
bad '.["5"].inputs.width = "wide"' invalid_input_type 5
bad '.["3"].inputs.latent_image = ["10", 0] | .["10"] = {class_type: "LatentUpscale", inputs: {samples: ["3", 0],
     upscale_method: "bilinear", width: 64, height: 64, crop: "disabled"}}' dependency_cycle 10
[ "$(post /prompt '{"prompt": [1, 2]}')" = 400 ] || fail "array prompt"
[ "$(post /prompt '{"client_id": "x"}')" = 400 ] || fail "no prompt"
[ "$(post /prompt '{bad json')" = 400 ] || fail "bad JSON"

# upload an image, then img2img through LoadImage -> VAEEncode -> KSampler (denoise 0.6)
[ "$(curl -s -o "$T/body" -w '%{http_code}' -F "image=@$T/out.png;filename=start.png" -F overwrite=true "$URL/upload/image")" = 200 ] ||
    fail "upload: $(cat "$T/body")"
jq -e '.name == "start.png" and .type == "input" and .subfolder == ""' "$T/body" >/dev/null || fail "upload answer"
[ "$(curl -s -o "$T/body" -w '%{http_code}' -F "image=@$T/out.png;filename=start.png" "$URL/upload/image")" = 200 ] &&
    jq -e '.name == "start.png"' "$T/body" >/dev/null || fail "an identical upload must keep its name"
[ "$(curl -s -o "$T/body" -w '%{http_code}' -F "image=@$T/chunk.json;filename=start.png" "$URL/upload/image")" = 400 ] ||
    fail "a non-image upload must be refused"
[ "$(get /object_info/LoadImage)" = 200 ] && jq -e '.LoadImage.input.required.image[0] | index("start.png")' "$T/body" >/dev/null ||
    fail "LoadImage does not list the upload: $(cat "$T/body")"
jq '.["10"] = {class_type: "LoadImage", inputs: {image: "start.png"}} | .["11"] = {class_type: "VAEEncode",
    inputs: {pixels: ["10", 0], vae: ["4", 2]}} | .["3"].inputs.latent_image = ["11", 0] | .["3"].inputs.denoise = 0.6 |
    .["9"].inputs.filename_prefix = "i2i/sdc" | {prompt: .}' "$GRAPH" >"$T/i2i.json"
[ "$(post_file /prompt "$T/i2i.json")" = 200 ] || fail "img2img prompt: $(cat "$T/body")"
ID3=$(jq -r '.prompt_id' "$T/body")
wait_history "$ID3"
jq -e --arg id "$ID3" '.[$id].outputs["9"].images[0] == {filename: "sdc_00001_.png", subfolder: "i2i", type: "output"}' "$T/body" \
    >/dev/null || fail "img2img history: $(jq -c --arg id "$ID3" '.[$id]' "$T/body" | head -c 600)"
[ "$(get "/view?filename=sdc_00001_.png&subfolder=i2i&type=output")" = 200 ] && png_ok "$T/body" || fail "view i2i"

# LoraLoader between the checkpoint and its users
jq '.["10"] = {class_type: "LoraLoader", inputs: {model: ["4", 0], clip: ["4", 1], lora_name: "lora_kohya.safetensors",
    strength_model: 0.8, strength_clip: 1.0}} | .["3"].inputs.model = ["10", 0] | .["6"].inputs.clip = ["10", 1] |
    .["7"].inputs.clip = ["10", 1] | .["9"].inputs.filename_prefix = "lora" | {prompt: .}' "$GRAPH" >"$T/lora.json"
[ "$(post_file /prompt "$T/lora.json")" = 200 ] || fail "LoRA prompt: $(cat "$T/body")"
ID4=$(jq -r '.prompt_id' "$T/body")
wait_history "$ID4"
jq -e --arg id "$ID4" '.[$id].status.status_str == "success" and .[$id].outputs["9"].images[0].filename == "lora_00001_.png"' \
    "$T/body" >/dev/null || fail "LoRA run: $(jq -c --arg id "$ID4" '.[$id].status' "$T/body" | head -c 600)"
idat() { tail -c +"$(grep -obUa IDAT "$1" | head -n 1 | cut -d: -f1)" "$1" | md5sum; }
[ "$(idat "$T/output/lora_00001_.png")" != "$(idat "$T/output/ComfyUI_00001_.png")" ] || fail "the LoRA changed nothing"
bad '.["10"] = {class_type: "LoraLoader", inputs: {model: ["4", 0], clip: ["4", 1], lora_name: "missing.safetensors",
    strength_model: 1, strength_clip: 1}} | .["3"].inputs.model = ["10", 0]' value_not_in_list 10

# the other routes
[ "$(get /object_info)" = 200 ] || fail "object_info"
jq -e '.KSampler.input.required.seed[1].control_after_generate == true and .SaveImage.output_node == true and
    (.CheckpointLoaderSimple.input.required.ckpt_name[0] == ["sd15-random-tiny.safetensors"])' "$T/body" >/dev/null ||
    fail "object_info content"
[ "$(get /queue)" = 200 ] && jq -e '.queue_running == [] and .queue_pending == []' "$T/body" >/dev/null || fail "/queue"
[ "$(get /prompt)" = 200 ] && jq -e '.exec_info.queue_remaining == 0' "$T/body" >/dev/null || fail "GET /prompt"
[ "$(get /system_stats)" = 200 ] && jq -e '.system.ram_total > 0 and .devices[0].type == "cpu"' "$T/body" >/dev/null || fail "stats"
[ "$(get /embeddings)" = 200 ] && [ "$(cat "$T/body")" = "[]" ] || fail "embeddings"
[ "$(get /extensions)" = 200 ] && [ "$(cat "$T/body")" = "[]" ] || fail "extensions"
[ "$(get /api/object_info/KSampler)" = 200 ] && jq -e '.KSampler.name == "KSampler"' "$T/body" >/dev/null || fail "/api prefix"
[ "$(post /interrupt '')" = 200 ] || fail "interrupt"

# a long prompt interrupted while it runs; a queued one deleted from the queue
jq '.["3"].inputs.steps = 2000 | .["3"].inputs.seed = 11 | {prompt: ., client_id: "e2e-client"}' "$GRAPH" >"$T/long.json"
[ "$(post_file /prompt "$T/long.json")" = 200 ] || fail "long prompt"
LID=$(jq -r '.prompt_id' "$T/body")
jq '.["3"].inputs.seed = 12 | {prompt: .}' "$GRAPH" >"$T/queued.json"
[ "$(post_file /prompt "$T/queued.json")" = 200 ] || fail "queued prompt"
QID=$(jq -r '.prompt_id' "$T/body")
[ "$(get /queue)" = 200 ] && jq -e --arg q "$QID" '.queue_pending[0][1] == $q' "$T/body" >/dev/null || fail "queue listing: $(head -c 300 "$T/body")"
[ "$(post /queue "{\"delete\": [\"$QID\"]}")" = 200 ] || fail "queue delete"
sleep 0.5
[ "$(post /interrupt '')" = 200 ] || fail "interrupt"
wait_history "$LID"
jq -e --arg id "$LID" '.[$id].status.status_str == "error" and (.[$id].status.messages | map(.[0]) | index("execution_interrupted"))' \
    "$T/body" >/dev/null || fail "interrupted prompt: $(jq -c --arg id "$LID" '.[$id].status' "$T/body")"
get "/history/$QID" >/dev/null
[ "$(cat "$T/body")" = "{}" ] || fail "the deleted prompt ran"

srv_stop
echo "ok"
