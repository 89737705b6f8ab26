#!/usr/bin/env bash
# Server benchmarks (not a test): requests per second of a cheap JSON route
# under many concurrent clients (wrk), and the latency of one txt2img on the
# tiny reference model through the A1111 API.
#   bench/server_bench.sh [CONNECTIONS] [SECONDS]     default 50 clients, 10 s
# Builds the release binary in build/server-rel (BUILD=... to change).
set -eu
cd "$(dirname "$0")/.."
CONN=${1:-50}
SECS=${2:-10}
BUILD=${BUILD:-build/server-rel}
SHARED=${SDC_SHARED:-../shared}
command -v wrk >/dev/null || { echo "wrk is not installed (scripts/setup.sh)"; exit 1; }
make -s -j2 MODE=release BUILD="$BUILD" "$BUILD/sdc"
T=$(mktemp -d)
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$T"' EXIT
mkdir -p "$T/models"
for f in reference/model/sd15-random-tiny.safetensors reference/model/sd15-random-tiny.yaml clip/bpe_simple_vocab_16e6.txt.gz; do
    ln -s "$(cd "$(dirname "$SHARED/$f")" && pwd)/$(basename "$f")" "$T/models/"
done
"$BUILD/sdc" serve --models-dir "$T/models" --port 0 --port-file "$T/port" --output-dir "$T/out" --input-dir "$T/in" \
    --temp-dir "$T/tmp" --http-threads 64 2>"$T/log" &
PID=$!
for _ in $(seq 1 100); do [ -s "$T/port" ] && break; sleep 0.1; done
URL=http://127.0.0.1:$(cat "$T/port")
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) threads"

echo "== GET /sdapi/v1/samplers, $CONN connections, $SECS s (wrk -t2)"
wrk -t2 -c"$CONN" -d"${SECS}s" --latency "$URL/sdapi/v1/samplers" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|Socket errors"

t2i() { # WIDTH STEPS: seconds for one txt2img (model already loaded)
    local body="{\"prompt\": \"a lighthouse\", \"steps\": $2, \"width\": $1, \"height\": $1, \"seed\": 1, \"sampler_name\": \"Euler\"}"
    curl -s -o /dev/null -w '%{time_total}' -H 'Content-Type: application/json' -d "$body" "$URL/sdapi/v1/txt2img"
}
t2i 64 2 >/dev/null # loads the model
echo "== txt2img on the tiny model (model loaded; HTTP round trip included)"
for cfg in "64 20" "256 20" "512 20"; do
    set -- $cfg
    printf '  %sx%s, %s steps: %s s\n' "$1" "$1" "$2" "$(t2i "$1" "$2")"
done
