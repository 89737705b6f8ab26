#!/usr/bin/env bash
# sdc make-model: the tiny sd15 model has the reference model's parameter
# counts, is deterministic per seed, refuses to overwrite, and runs through
# sdc generate to a finite, not-flat image; sdc info describes it.
set -u
SDC=${SDC_BIN:-build/asan/sdc}
SHARED=${SDC_SHARED:-../shared}
VOCAB=$SHARED/clip/bpe_simple_vocab_16e6.txt.gz
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$SDC" make-model --family sd15 --size tiny --seed 5 --dtype f32 --out "$T/m.safetensors" >/dev/null || fail "make-model failed"
"$SDC" info "$T/m.safetensors" >"$T/info.txt" || fail "info failed"
grep -q "family:      SD 1.x" "$T/info.txt" || fail "not detected as SD 1.x"
# the reference model's counts (cases.json n_params)
grep -q "parameters:  5544235, unet 2164452, vae 1732679, text 1647104" "$T/info.txt" || fail "parameter counts differ"
grep -q "sdc.seed = 5" "$T/info.txt" || fail "seed missing from __metadata__"

"$SDC" make-model --size tiny --seed 5 --dtype f32 --out "$T/m.safetensors" 2>"$T/err.txt"
[ $? -ne 0 ] || fail "overwrote without --overwrite"
grep -q "exists" "$T/err.txt" || fail "no clear message for an existing output"
"$SDC" make-model --size tiny --seed 5 --dtype f32 --out "$T/same.safetensors" -t 1 >/dev/null || fail "second run failed"
cmp -s "$T/m.safetensors" "$T/same.safetensors" || fail "same seed (1 vs all threads) gave different bytes"
"$SDC" make-model --size tiny --seed 6 --dtype f32 --out "$T/same.safetensors" --overwrite >/dev/null || fail "--overwrite failed"
cmp -s "$T/m.safetensors" "$T/same.safetensors" && fail "different seeds gave the same bytes"
"$SDC" make-model --size tiny --dtype f64 --out "$T/x.safetensors" 2>/dev/null
[ $? -eq 2 ] || fail "bad --dtype not a usage error"
"$SDC" make-model --family sd9 --out "$T/x.safetensors" 2>/dev/null
[ $? -eq 2 ] || fail "bad --family not a usage error"
[ -e "$T/x.safetensors" ] && fail "output left behind after an error"

# a forward pass through the random model stays finite and is not a flat image
"$SDC" generate -m "$T/m.safetensors" --vocab "$VOCAB" -W 64 -H 64 --steps 2 -q -p "a cat" --seed 1 \
    -o "$T/o.png" --output-tensor "$T/img.safetensors" || fail "generate on the random model failed"
# image: f32 [1, 3, 64, 64] at the end of the file
tail -c $((3 * 64 * 64 * 4)) "$T/img.safetensors" | od -An -v -f -w4 | awk '
    { v = $1 + 0; if ($1 ~ /nan|inf/) bad++; n++; s += v; ss += v * v; if (n == 1 || v < lo) lo = v; if (n == 1 || v > hi) hi = v }
    END { m = s / n; sd = sqrt(ss / n - m * m); printf "min %g max %g mean %g std %g\n", lo, hi, m, sd;
          exit !(bad == 0 && n == 12288 && sd > 0.01 && m > 0.02) }' || fail "image is not finite, flat or black"
exit 0
