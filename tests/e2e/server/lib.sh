# Helpers for the `sdc serve` end-to-end tests (sourced by tests/e2e/server_*.sh).
#
#   srv_start [serve options...]   start a server on a free loopback port with a
#                                  fresh models folder (links to the shared tiny
#                                  model, its .yaml and the CLIP vocabulary);
#                                  sets SRV_PID, PORT, URL, T (temp dir), MODELS;
#                                  SRV_CWD=DIR starts it from another folder
#   srv_stop                       SIGTERM; fails unless it exits 0 with a clean log
#   get PATH / post PATH JSON      curl; the body goes to $T/body, prints the status
#   ws_build                       compiles the WebSocket client into $T/ws_client
# Needs curl and jq (scripts/setup.sh installs both).
set -u
SDC=${SDC_BIN:-build/asan/sdc}
SHARED=${SDC_SHARED:-../shared}
T=$(mktemp -d)
SRV_PID=""
trap 'srv_kill; rm -rf "$T"' EXIT

fail() {
    echo "FAIL: $*"
    [ -f "$T/server.log" ] && tail -n 20 "$T/server.log" | sed 's/^/    server: /'
    exit 1
}

srv_kill() { [ -n "$SRV_PID" ] && kill -9 "$SRV_PID" 2>/dev/null; SRV_PID=""; }

abspath() { (cd "$(dirname "$1")" && echo "$PWD/$(basename "$1")"); }

srv_models() {
    MODELS=$T/models
    mkdir -p "$MODELS/loras" "$MODELS/controlnet" "$MODELS/vae"
    ln -sf "$(abspath "$SHARED/reference/model/sd15-random-tiny.safetensors")" "$MODELS/"
    ln -sf "$(abspath "$SHARED/reference/model/sd15-random-tiny.yaml")" "$MODELS/"
    ln -sf "$(abspath "$SHARED/clip/bpe_simple_vocab_16e6.txt.gz")" "$MODELS/"
}

srv_start() {
    [ -d "${MODELS:-}" ] || srv_models
    rm -f "$T/port"
    local sdc
    sdc=$(abspath "$SDC")
    # its own hash cache: what /sdapi/v1/sd-models shows must not depend on earlier runs
    (cd "${SRV_CWD:-.}" && XDG_CACHE_HOME=$T/cache exec "$sdc" serve --models-dir "$MODELS" --port 0 --port-file "$T/port" --output-dir "$T/output" \
        --input-dir "$T/input" --temp-dir "$T/temp" --threads 2 "$@" >"$T/server.log" 2>&1) &
    SRV_PID=$!
    for _ in $(seq 1 300); do
        if [ -s "$T/port" ]; then
            PORT=$(cat "$T/port")
            URL=http://127.0.0.1:$PORT
            return 0
        fi
        kill -0 "$SRV_PID" 2>/dev/null || fail "server exited at start"
        sleep 0.1
    done
    fail "server did not start"
}

srv_stop() {
    [ -n "$SRV_PID" ] || return 0
    kill -TERM "$SRV_PID"
    local rc=0
    wait "$SRV_PID" || rc=$?
    SRV_PID=""
    [ "$rc" -eq 0 ] || fail "server exited with $rc on SIGTERM"
    grep -q "shutting down" "$T/server.log" || fail "no clean shutdown message"
    if grep -E -q "ERROR: AddressSanitizer|runtime error|LeakSanitizer" "$T/server.log"; then fail "sanitizer report"; fi
}

# get PATH [curl args...]: prints the HTTP status, body in $T/body
get() {
    local p=$1
    shift
    curl -s -o "$T/body" -w '%{http_code}' "$@" "$URL$p"
}

# post PATH JSON [curl args...]
post() {
    local p=$1 d=$2
    shift 2
    curl -s -o "$T/body" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$d" "$@" "$URL$p"
}

# post_file PATH FILE: the JSON body from a file
post_file() { curl -s -o "$T/body" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "@$2" "$URL$1"; }

ws_build() {
    cc -O1 -o "$T/ws_client" tests/e2e/server/ws_client.c || fail "cannot build the WebSocket client"
}

# png_ok FILE: a PNG signature
png_ok() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; }
