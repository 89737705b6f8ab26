#!/usr/bin/env bash
# `sdc preprocess`: writes an 8-bit gray PNG of the input's size, refuses bad
# arguments / unreadable input with exit 2 and leaves no output behind,
# keeps an existing OUT unless --overwrite. (Pixel-exactness against OpenCV
# is checked by the unit tests image_canny_matches_opencv / _xdog_.)
set -u
SDC_BIN=${SDC_BIN:-build/asan/sdc}
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
in=tests/data/image/astro.png

# IHDR: width, height (big-endian u32), bit depth, colour type
ihdr() { od -An -tx1 -j16 -N10 "$1" | tr -d ' \n'; }

"$SDC_BIN" preprocess canny "$in" "$tmp/c.png" || fail "canny exit $?"
[ "$(ihdr "$tmp/c.png")" = "00000040000000400800" ] || fail "canny output is not a 64x64 gray PNG: $(ihdr "$tmp/c.png")"
"$SDC_BIN" preprocess canny --low 20 --high 60 "$in" "$tmp/c2.png" || fail "canny with thresholds"
cmp -s "$tmp/c.png" "$tmp/c2.png" && fail "thresholds had no effect"
"$SDC_BIN" preprocess scribble --xdog "$in" "$tmp/x.png" || fail "xdog exit $?"
"$SDC_BIN" preprocess scribble --threshold 100 tests/data/image/astro_q90.jpg "$tmp/s.png" || fail "scribble from jpeg"
"$SDC_BIN" preprocess scribble tests/data/image/cat_lossy.webp "$tmp/w.png" || fail "scribble from webp"
"$SDC_BIN" preprocess --help | grep -q "scribble --xdog" || fail "--help does not list the preprocessors"

# existing output is kept without --overwrite
cp "$tmp/c2.png" "$tmp/keep.png"
"$SDC_BIN" preprocess canny "$in" "$tmp/c2.png" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] || fail "existing OUT: exit $rc, expected 2"
cmp -s "$tmp/c2.png" "$tmp/keep.png" || fail "existing OUT was modified"
"$SDC_BIN" preprocess canny --overwrite "$in" "$tmp/c2.png" || fail "--overwrite"
cmp -s "$tmp/c2.png" "$tmp/c.png" || fail "--overwrite did not replace OUT"

# bad usage and unreadable input: exit 2, a message, no output file
expect2() {
    local out=$1; shift
    "$SDC_BIN" preprocess "$@" 2>"$tmp/err"; local rc=$?
    [ $rc -eq 2 ] || fail "'preprocess $*': exit $rc, expected 2"
    [ -s "$tmp/err" ] || fail "'preprocess $*': no message"
    [ ! -e "$out" ] || fail "'preprocess $*': left $out behind"
}
expect2 "$tmp/o1.png" blur "$in" "$tmp/o1.png"
expect2 "$tmp/o2.png" canny --low abc "$in" "$tmp/o2.png"
expect2 "$tmp/o3.png" canny --frobnicate "$in" "$tmp/o3.png"
expect2 "$tmp/o4.png" canny "$in"
expect2 "$tmp/o5.png" canny "$tmp/missing.png" "$tmp/o5.png"
printf 'not an image' >"$tmp/bad.png"
expect2 "$tmp/o6.png" canny "$tmp/bad.png" "$tmp/o6.png"
head -c 300 "$in" >"$tmp/trunc.png"
expect2 "$tmp/o7.png" scribble --xdog "$tmp/trunc.png" "$tmp/o7.png"
expect2 "$tmp/o8.png" scribble --xdog --threshold 256 "$in" "$tmp/o8.png"
ls "$tmp" | grep -q '\.tmp-' && fail "temporary files left behind"
"$SDC_BIN" preprocess canny "$in" "$tmp/nodir/x.png" 2>/dev/null && fail "writing into a missing folder succeeded"
exit 0
