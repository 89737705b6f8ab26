#!/usr/bin/env bash
# sdc convert between formats and sdc info on each: the reference model
# (single file and diffusers folder) -> f16 safetensors -> GGUF q8_0 ->
# f32 safetensors keeps the names and detected hyperparameters; PyTorch
# checkpoints convert to safetensors bit-exactly; bad inputs fail cleanly.
set -u
SDC=${SDC_BIN:-build/asan/sdc}
SHARED=${SDC_SHARED:-../shared}
REF=$SHARED/reference/model/sd15-random-tiny.safetensors
DATA=tests/data/formats
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
summary() { "$SDC" info "$1" | grep -E "^(type|family|unet|text|vae|parameters):" | sed 's/, [a-z0-9 ]*(\(yaml\|config.json\|family convention\))//'; }

"$SDC" convert "$REF" "$T/a.safetensors" --type f16 >/dev/null || fail "convert to f16 failed"
"$SDC" info "$T/a.safetensors" | grep -q "tensors:     822 (f16 822)" || fail "f16 copy has other dtypes"
"$SDC" convert "$SHARED/reference/model/sd15-random-tiny-diffusers" "$T/b.gguf" --type q8_0 >/dev/null || fail "folder -> q8_0 failed"
"$SDC" info "$T/b.gguf" | grep -q "format:      gguf" || fail "not read back as GGUF"
"$SDC" info "$T/b.gguf" | grep -q "q8_0" || fail "nothing quantized"
"$SDC" convert "$T/b.gguf" "$T/c.safetensors" >/dev/null || fail "GGUF -> safetensors failed"
summary "$REF" >"$T/s0"
for f in a.safetensors b.gguf c.safetensors; do
    summary "$T/$f" >"$T/s1"
    diff "$T/s0" "$T/s1" >/dev/null || { diff "$T/s0" "$T/s1"; fail "$f describes differently"; }
done
"$SDC" compare "$T/a.safetensors:model.diffusion_model.out.2.weight" "$REF:model.diffusion_model.out.2.weight" --tol 1e-3 \
    >/dev/null || fail "f16 copy differs by more than f16 rounding"
"$SDC" compare "$T/c.safetensors:model.diffusion_model.input_blocks.1.1.proj_in.weight" \
    "$REF:model.diffusion_model.input_blocks.1.1.proj_in.weight" --tol 0.02 >/dev/null || fail "q8_0 round trip too far off"

# PyTorch checkpoint -> safetensors: same bytes per tensor
"$SDC" convert "$DATA/plain.ckpt" "$T/p.safetensors" >/dev/null || fail "ckpt -> safetensors failed"
for t in a.f32 a.bf16 conv.weight view.transposed view.slice_b param; do
    "$SDC" compare "$T/p.safetensors:$t" "$DATA/plain.ckpt:$t" --tol 0 >/dev/null || fail "$t differs after conversion"
done
"$SDC" info --tensors "$T/p.safetensors" | grep -q "^view.transposed f32 \[4, 3\]" || fail "transposed view has the wrong shape"

# errors: exit code and message, never a partial output
"$SDC" convert "$DATA/evil.ckpt" "$T/e.safetensors" 2>"$T/err" && fail "evil checkpoint converted"
grep -q "posix.system" "$T/err" || fail "no message naming the refused global"
[ -e "$T/e.safetensors" ] && fail "partial output left"
"$SDC" convert "$REF" "$T/q.safetensors" --type q4_0 2>/dev/null; [ $? -eq 2 ] || fail "q4_0 into safetensors not refused"
"$SDC" convert "$REF" "$T/x.bin" 2>/dev/null; [ $? -eq 2 ] || fail "unknown output extension not refused"
"$SDC" convert "$REF" "$T/a.safetensors" 2>/dev/null && fail "overwrote without --overwrite"
head -c 1000 "$REF" >"$T/trunc.safetensors"
"$SDC" info "$T/trunc.safetensors" 2>"$T/err" && fail "truncated file accepted"
grep -q "past end of file" "$T/err" || fail "truncation message unclear: $(cat "$T/err")"
printf 'hello world' >"$T/junk.bin"
"$SDC" info "$T/junk.bin" 2>/dev/null; [ $? -eq 1 ] || fail "junk file: wrong exit code"
"$SDC" info 2>/dev/null; [ $? -eq 2 ] || fail "missing argument not a usage error"
exit 0
