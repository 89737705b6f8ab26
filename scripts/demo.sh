#!/usr/bin/env bash
# The main job until real checkpoints ship with a tokenizer: make a tiny
# random-weight SD 1.5 model with sdc's own generator and generate an image.
set -euo pipefail
cd "$(dirname "$0")/.."
SDC=build/release/sdc
VOCAB=${SDC_VOCAB:-../shared/clip/bpe_simple_vocab_16e6.txt.gz}
mkdir -p out
$SDC version
if ! $SDC make-model --help >/dev/null 2>&1; then
    echo "demo: 'sdc make-model' is not built yet" >&2
    exit 1
fi
$SDC make-model --family sd15 --size tiny --seed 1 --out out/demo-tiny.safetensors --overwrite
$SDC generate --model out/demo-tiny.safetensors --vocab "$VOCAB" --prompt "a lighthouse on a cliff at dusk" \
    --steps 20 --seed 42 --width 256 --height 256 --output out/demo.png --overwrite
echo "demo: wrote out/demo.png"
