#!/usr/bin/env bash
# sdc generate from the command line on the tiny reference model: an image
# with A1111 parameters, byte-identical reruns, and bad input rejected with
# exit code 2 and no output file.
set -u
SDC=${SDC_BIN:-build/asan/sdc}
SHARED=${SDC_SHARED:-../shared}
MODEL=$SHARED/reference/model/sd15-random-tiny.safetensors
VOCAB=$SHARED/clip/bpe_simple_vocab_16e6.txt.gz
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
gen() { "$SDC" generate -m "$MODEL" --vocab "$VOCAB" -W 64 -H 64 --steps 3 -q "$@"; }

gen -p "a red fox" --seed 7 --sampler "Euler a" -o "$T/a.png" || fail "generate failed"
[ -s "$T/a.png" ] || fail "no image written"
grep -a -q "Steps: 3, Sampler: Euler a" "$T/a.png" || fail "PNG lacks the A1111 parameters"
grep -a -q "Seed: 7" "$T/a.png" || fail "PNG lacks the seed"
gen -p "a red fox" --seed 7 --sampler "Euler a" -o "$T/b.png" || fail "second run failed"
cmp -s "$T/a.png" "$T/b.png" || fail "same seed gave different bytes"
gen -p "a red fox" --seed 8 --sampler "Euler a" -o "$T/c.png" || fail "third run failed"
cmp -s "$T/a.png" "$T/c.png" && fail "different seeds gave the same image"

# batches: numbered files, one per image
gen -p "x" --seed 1 --batch-size 2 --batch-count 2 -o "$T/batch.png" || fail "batch run failed"
for i in 0001 0002 0003 0004; do [ -s "$T/batch-$i.png" ] || fail "missing batch-$i.png"; done

# img2img + inpaint on the image just made
"$SDC" generate -m "$MODEL" --vocab "$VOCAB" -q -p "a blue fox" --init-image "$T/a.png" --strength 0.5 --steps 4 \
    -o "$T/i2i.png" || fail "img2img failed"
grep -a -q "Denoising strength: 0.5" "$T/i2i.png" || fail "img2img infotext lacks the strength"

# LoRA: a file with strength, and a prompt tag resolved in --lora-dir; both change the image
gen -p "a red fox" --seed 7 --sampler "Euler a" --lora tests/data/control/lora_kohya.safetensors:0.8 -o "$T/lora.png" \
    --output-tensor "$T/lora.safetensors" || fail "--lora failed"
cmp -s "$T/a.png" "$T/lora.png" && fail "the LoRA changed nothing"
mkdir -p "$T/loras" && cp tests/data/control/lora_kohya.safetensors "$T/loras/Fox.safetensors"
gen -p "a red fox <lora:fox:0.8>" --seed 7 --sampler "Euler a" --lora-dir "$T/loras" -o "$T/tag.png" \
    --output-tensor "$T/tag.safetensors" || fail "lora tag failed"
"$SDC" compare "$T/tag.safetensors" "$T/lora.safetensors" --tol 0 >/dev/null || fail "<lora:fox:0.8> differs from --lora FILE:0.8"

# an SD 2.x-layout model (OpenCLIP text encoder, linear projections) made by
# make-model runs, in both prediction types
"$SDC" make-model --family sd2 --size tiny --seed 3 --out "$T/sd2.safetensors" >/dev/null || fail "make-model sd2 failed"
for pred in eps v; do
    "$SDC" generate -m "$T/sd2.safetensors" --vocab "$VOCAB" -W 64 -H 64 --steps 2 --seed 5 -q -p "a castle" --prediction $pred \
        -o "$T/sd2-$pred.png" || fail "SD 2.x generate ($pred) failed"
done
cmp -s "$T/sd2-eps.png" "$T/sd2-v.png" && fail "v-prediction changed nothing"

expect_usage_error() { # description, then arguments
    local what=$1
    shift
    rm -f "$T/bad.png"
    "$SDC" generate -m "$MODEL" --vocab "$VOCAB" -q -o "$T/bad.png" "$@" 2>"$T/err.txt"
    local rc=$?
    [ $rc -eq 2 ] || fail "$what: exit code $rc, expected 2"
    [ -s "$T/err.txt" ] || fail "$what: no message"
    [ -e "$T/bad.png" ] && fail "$what: left an output file"
    return 0
}
expect_usage_error "width not a multiple of 8" -W 65 -H 64
expect_usage_error "zero steps" --steps 0
expect_usage_error "strength above 1" --init-image "$T/a.png" --strength 1.5
expect_usage_error "unknown sampler" --sampler nosuch
expect_usage_error "unknown scheduler" --scheduler nosuch
expect_usage_error "missing init image" --init-image "$T/nope.png"
expect_usage_error "mask of another size" --init-image "$T/a.png" --mask "$SHARED/reference/tiny/pipe/txt2img_ddim_128.png"
expect_usage_error "bad noise file" --noise "$MODEL"
expect_usage_error "missing LoRA" --lora "$T/nope.safetensors"
expect_usage_error "lora tag without --lora-dir" -p "x <lora:fox:1>"
expect_usage_error "ControlNet without an image" --control-net "$MODEL"
expect_usage_error "unknown preprocessor" --control-net "$MODEL" --control-image "$T/a.png" --control-preprocess nosuch
"$SDC" generate -m "$T/nope.safetensors" -q -o "$T/bad.png" 2>/dev/null
[ $? -eq 2 ] || fail "missing model: expected exit code 2"
# an existing output is never replaced without --overwrite
cp "$T/a.png" "$T/keep.png"
gen -p "other" -o "$T/keep.png" 2>/dev/null && fail "overwrote an existing file"
cmp -s "$T/a.png" "$T/keep.png" || fail "existing file changed"
gen -p "other" -o "$T/keep.png" --overwrite || fail "--overwrite refused"
exit 0
