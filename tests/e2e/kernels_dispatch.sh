#!/usr/bin/env bash
# Kernel table choice: the best table for the CPU, SDC_CPU_CAP caps the
# detected features (one binary runs on any x86-64), SDC_KERNELS forces a
# table and falls back to the best available one when the CPU lacks it.
set -euo pipefail
SDC_BIN=${SDC_BIN:-build/asan/sdc}
kernels() { env "$@" "$SDC_BIN" version | sed -n 's/^kernels: //p'; }
features=$("$SDC_BIN" version | sed -n 's/^features: //p')

best=$(kernels)
case "$features" in
    *avx512*) want=avx512 ;;
    *avx2*fma*f16c*) want=avx2 ;;
    *) want=ref ;;
esac
[ "$best" = "$want" ] || { echo "best table '$best', expected '$want' for features '$features'"; exit 1; }
[ "$(kernels SDC_CPU_CAP=portable)" = ref ] || { echo "SDC_CPU_CAP=portable must give ref"; exit 1; }
[ "$(kernels SDC_KERNELS=ref)" = ref ] || { echo "SDC_KERNELS=ref not honoured"; exit 1; }
if [ "$want" != ref ]; then
    capped=$(kernels SDC_CPU_CAP=avx2)
    [ "$capped" = avx2 ] || { echo "SDC_CPU_CAP=avx2 gave '$capped'"; exit 1; }
    forced=$(kernels SDC_CPU_CAP=avx2 SDC_KERNELS=avx512)
    [ "$forced" = avx2 ] || { echo "SDC_KERNELS=avx512 on an avx2-capped CPU gave '$forced', expected avx2"; exit 1; }
fi
echo "ok: best=$best"
