#!/usr/bin/env bash
# sdc encode-text on the tiny model vs the transformers reference
# (last_hidden_state, and clip skip 2 = penultimate layer + final norm),
# within 1e-4 relative.
set -u
SDC=${SDC_BIN:-build/asan/sdc}
SHARED=${SDC_SHARED:-../shared}
MODEL=$SHARED/reference/model/sd15-random-tiny.safetensors
REF=$SHARED/reference/tiny/text/astronaut.safetensors
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$SDC" encode-text -m "$MODEL" --vocab "$SHARED/clip" -p "a photograph of an astronaut riding a horse" -o "$T/c.safetensors" \
    || fail "encode-text failed"
"$SDC" compare "$T/c.safetensors:context" "$REF:last_hidden_state" --tol 1e-4 || fail "context differs from the reference"
"$SDC" encode-text -m "$MODEL" --vocab "$SHARED/clip" -p "a photograph of an astronaut riding a horse" --clip-skip 2 \
    -o "$T/c2.safetensors" || fail "encode-text --clip-skip 2 failed"
"$SDC" compare "$T/c2.safetensors:context" "$REF:penultimate_final_ln" --tol 1e-4 || fail "clip skip 2 differs"
# a long prompt gives two 77-token chunks
long=$(printf 'cat %.0s' $(seq 1 100)) # 100 tokens: 75 + 25
"$SDC" encode-text -m "$MODEL" --vocab "$SHARED/clip" -p "$long" -o "$T/long.safetensors" || fail "long prompt failed"
grep -a -q '"shape":\[1,154,32\]' "$T/long.safetensors" || fail "long prompt is not [1, 154, 32]"
# errors: missing output, existing output
"$SDC" encode-text -m "$MODEL" -p x 2>/dev/null; [ $? -eq 2 ] || fail "missing --output not rejected"
"$SDC" encode-text -m "$MODEL" --vocab "$SHARED/clip" -p x -o "$T/c.safetensors" 2>/dev/null; [ $? -eq 2 ] || fail "overwrote an output"
exit 0
