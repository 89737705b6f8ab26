#!/usr/bin/env bash
# `sdc sigmas` and `sdc noise`: schedules and seeds that other programs
# produce (values from diffusers' DDIM/Euler references in ../shared, from
# torch.manual_seed(0) and from A1111's rng_philox.py docstring), and exit
# code 2 with the valid names for an unknown scheduler.
set -euo pipefail
SDC_BIN=$(realpath "${SDC_BIN:-build/asan/sdc}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# close A B TOL: |A - B| <= TOL
close() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }

# DDIM, 4 steps: diffusers' timesteps 751 501 251 1, then alphas_cumprod[0]
got=$("$SDC_BIN" sigmas --sampler ddim --steps 4 | grep -v '^#' | awk '{printf "%s ", $3}')
[ "$got" = "751 501 251 1 0 " ] || fail "ddim timesteps: '$got'"

# Euler + normal, 4 steps: diffusers' sigmas (float32) and timesteps
"$SDC_BIN" sigmas --sampler euler --scheduler normal --steps 4 | grep -v '^#' >"$tmp/euler"
want_s=(14.614645 2.9183083 0.9323583 0.02916753 0)
want_t=(999 666 333 0 0)
i=0
while read -r idx sigma t; do
    close "$sigma" "${want_s[$i]}" 2e-6 || fail "euler sigma $idx: $sigma"
    [ "$t" = "${want_t[$i]}" ] || fail "euler timestep $idx: $t"
    i=$((i + 1))
done <"$tmp/euler"
[ $i -eq 5 ] || fail "euler: $i lines"

# torch.manual_seed(0); torch.randn(1) / torch.randn(16)
[ "$("$SDC_BIN" noise --seed 0 --count 1)" = "1.54099607" ] || fail "randn(1) seed 0"
first=$("$SDC_BIN" noise --seed 0 --count 3 --size 16 | tr '\n' ' ')
[ "$first" = "-1.12583983 -1.15236020 -0.250578582 " ] || [ "$first" = "-1.12583983 -1.1523602 -0.250578582 " ] ||
    fail "randn(16) seed 0: '$first'"

# A1111 philox, seed 0: the docstring of modules/rng_philox.py
want=(-0.92466259 -0.42534415 -2.6438457 0.14518388)
i=0
for v in $("$SDC_BIN" noise --rng philox --seed 0 --count 4 --size 12); do
    close "$v" "${want[$i]}" 1e-6 || fail "philox[$i] = $v"
    i=$((i + 1))
done

# an unknown scheduler: exit 2, the valid names listed
set +e
msg=$("$SDC_BIN" sigmas --scheduler lunar 2>&1)
rc=$?
set -e
[ $rc -eq 2 ] || fail "unknown scheduler exit $rc"
echo "$msg" | grep -q "karras" || fail "no valid names in: $msg"
echo ok
