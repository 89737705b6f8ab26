#!/usr/bin/env bash
# The end-to-end benchmark of BENCHMARKS.md: a full-size random SD 1.5
# (f16 weights, made by sdc's own generator) timed stage by stage.
#   scripts/bench_e2e.sh [--quick]   (--quick: stages only, no whole images)
set -euo pipefail
cd "$(dirname "$0")/.."
SDC=build/release/sdc
BENCH=build/release/sdc_bench
MODEL=out/bench/sd15-full-f16.safetensors
mkdir -p out/bench
[ -f "$MODEL" ] || $SDC make-model --family sd15 --size full --dtype f16 --seed 1 --out "$MODEL"
TAESD=()
if [ -f out/bench/taesd-full.safetensors ]; then TAESD=(--taesd out/bench/taesd-full.safetensors); fi
$SDC version
echo
echo "== precision bf16 (f16 weights, bf16 products, f32 accumulation)"
$BENCH e2e --model "$MODEL" --precision bf16 "${TAESD[@]}" "$@"
echo
echo "== precision f32 (exact)"
$BENCH e2e --model "$MODEL" --precision f32 --quick "${TAESD[@]}"
