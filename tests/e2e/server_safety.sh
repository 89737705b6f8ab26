#!/usr/bin/env bash
# Safety of `sdc serve`: loopback by default, client file names confined
# to their folders (traversal, absolute paths, symlinks out), bounded
# bodies (413), malformed and hostile JSON (400 / 422, never a crash), a
# stalled client that does not hold up the queue, the API key on every API
# route (and the WebSocket), and clean shutdown on SIGINT.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/server/lib.sh
ws_build
srv_start --max-body-mb 1

# bound to 127.0.0.1 only
HEX=$(printf '%04X' "$PORT")
grep -q "0100007F:$HEX 00000000:0000 0A" /proc/net/tcp || fail "not listening on 127.0.0.1:$PORT"

# a file to find: the first image
[ "$(post /sdapi/v1/txt2img '{"prompt": "x", "steps": 2, "width": 64, "height": 64, "seed": 1}')" = 200 ] || fail "txt2img"
jq -r '.images[0]' "$T/body" | base64 -d >"$T/img.png"
mkdir -p "$T/output/sub" && cp "$T/img.png" "$T/output/sub/ok.png"
[ "$(get "/view?filename=ok.png&subfolder=sub")" = 200 ] || fail "a normal /view"

# traversal on /view
[ "$(get "/view?filename=../server.log")" = 400 ] || fail "filename .."
[ "$(get "/view?filename=%2e%2e%2fserver.log")" = 400 ] || fail "encoded filename .."
[ "$(get "/view?filename=/etc/passwd")" = 400 ] || fail "absolute filename"
[ "$(get "/view?filename=server.log&subfolder=..")" = 403 ] || fail "subfolder .."
[ "$(get "/view?filename=passwd&subfolder=/etc")" = 403 ] || fail "absolute subfolder"
[ "$(get "/view?filename=ok.png&subfolder=sub/../..")" = 403 ] || fail "subfolder sub/../.."
[ "$(get "/view?filename=ok.png&type=models")" = 400 ] || fail "unknown type"
ln -s /etc "$T/output/escape"
[ "$(get "/view?filename=hostname&subfolder=escape")" = 403 ] || fail "symlink out of the output folder"
ln -s /etc/hostname "$T/output/host.png"
[ "$(get "/view?filename=host.png")" = 403 ] || fail "file symlink out of the output folder"
[ "$(get "/view?filename=missing.png")" = 404 ] || fail "missing file not 404"

# traversal on upload
up() { curl -s -o "$T/body" -w "%{http_code}" -F "image=@$T/img.png;filename=$1" -F type=output ${2:+-F "subfolder=$2"} "$URL/upload/image"; }
[ "$(up ../evil.png)" = 400 ] || fail "upload ../"
[ "$(up /tmp/evil.png)" = 400 ] || fail "upload absolute"
[ "$(up evil.png ../..)" = 400 ] || fail "upload into subfolder ../.."
[ "$(up evil.png escape)" = 403 ] && [ ! -e /etc/evil.png ] || fail "upload through a symlink"
[ "$(curl -s -o "$T/body" -w '%{http_code}' -F "image=@$T/img.png;filename=t.png" -F type=output -F subfolder=a/b "$URL/upload/image")" = 200 ] &&
    [ -f "$T/output/a/b/t.png" ] || fail "upload into a new subfolder of output"
ls /tmp/evil.png "$T/evil.png" 2>/dev/null && fail "a traversal upload was written"

# bodies over the limit (1 MiB here), with and without a length
head -c 1200000 /dev/zero | tr '\0' 'a' >"$T/big"
[ "$(curl -s -o "$T/body" -w '%{http_code}' --data-binary "@$T/big" "$URL/prompt")" = 413 ] || fail "large body not 413"
[ "$(curl -s -o "$T/body" -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary "@$T/big" "$URL/sdapi/v1/txt2img")" = 413 ] ||
    fail "large chunked body not 413"

# malformed and hostile JSON
[ "$(post /prompt '{"prompt": {"1": ')" = 400 ] || fail "truncated JSON"
[ "$(post /prompt "$(printf '%.0s[' $(seq 1 200))")" = 400 ] || fail "deeply nested JSON"
[ "$(post /prompt '"just a string"')" = 400 ] || fail "non-object JSON"
[ "$(post /sdapi/v1/txt2img '[1, 2]')" = 422 ] || fail "A1111 non-object JSON"
[ "$(post /prompt '{"prompt": {"1": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}}}')" = 400 ] || fail "self link"
# a tiny PNG whose header claims 20000x20000: refused before any pixel is decoded
HUGE=$(printf '\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x4e\x20\x00\x00\x4e\x20\x08\x02\x00\x00\x00\x00\x00\x00\x00' | base64 -w0)
[ "$(post /sdapi/v1/img2img "{\"init_images\": [\"$HUGE\"], \"steps\": 2}")" = 422 ] && grep -q "larger than the server allows" "$T/body" ||
    fail "huge image header: $(cat "$T/body")"
# a 1500-node chain: validated without recursion on a small request-thread stack
jq -n '{prompt: (reduce range(1; 1500) as $i ({"0": {class_type: "EmptyLatentImage", inputs: {width: 64, height: 64, batch_size: 1}}};
        .["\($i)"] = {class_type: "LatentUpscaleBy", inputs: {samples: ["\($i - 1)", 0], upscale_method: "bilinear", scale_by: 1.0}})
        | .["9999"] = {class_type: "SaveImage", inputs: {images: ["1499", 0], filename_prefix: "chain"}})}' >"$T/chain.json"
[ "$(post_file /prompt "$T/chain.json")" = 400 ] || fail "chain: $(head -c 300 "$T/body")"
jq -e '.node_errors["9999"].errors[0].type == "return_type_mismatch"' "$T/body" >/dev/null || fail "chain error"
[ "$(get /sdc/v1/info)" = 200 ] || fail "server gone after hostile input"

# a client that sends half a request and stalls holds up nothing
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /prompt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"prompt": ' >&3
"$T/ws_client" "$PORT" "/ws?clientId=stall" '"status"' 10 >/dev/null || fail "WebSocket"
[ "$(post /sdapi/v1/txt2img '{"prompt": "y", "steps": 2, "width": 64, "height": 64}' --max-time 20)" = 200 ] || fail "queue blocked by a stalled client"
exec 3>&-

srv_stop

# the API key: every API route, the WebSocket; the key in a header or ?token=
srv_start --api-key s3cret
[ "$(get /sdapi/v1/samplers)" = 401 ] || fail "no key accepted"
[ "$(get /object_info)" = 401 ] || fail "no key accepted on /object_info"
[ "$(post /prompt '{}')" = 401 ] || fail "no key accepted on /prompt"
[ "$(get /sdapi/v1/samplers -H 'Authorization: Bearer wrong')" = 401 ] || fail "wrong key accepted"
[ "$(get /sdapi/v1/samplers -H 'Authorization: Bearer s3cret')" = 200 ] || fail "Bearer key refused"
[ "$(get /sdapi/v1/samplers -H 'X-API-Key: s3cret')" = 200 ] || fail "X-API-Key refused"
[ "$(get '/sdc/v1/info?token=s3cret')" = 200 ] || fail "token query refused"
"$T/ws_client" "$PORT" "/ws" '"status"' 5 >/dev/null 2>&1 && fail "WebSocket without the key accepted"
"$T/ws_client" "$PORT" "/ws?token=s3cret" '"status"' 5 >/dev/null || fail "WebSocket with the key refused"

# SIGINT: a clean exit
kill -INT "$SRV_PID"
rc=0
wait "$SRV_PID" || rc=$?
SRV_PID=""
[ $rc = 0 ] || fail "exit code $rc after SIGINT"
grep -q "interrupted, shutting down" "$T/server.log" || fail "no shutdown message"
grep -E -q "AddressSanitizer|runtime error" "$T/server.log" && fail "sanitizer report"
echo "ok"
