#!/usr/bin/env bash
# `sdc tokenize`: exact ids (DESIGN.md section 2), every vocabulary source,
# the vocabulary search, and exit code 2 with a helpful message when there is
# no vocabulary or the usage is wrong.
set -euo pipefail
SDC_BIN=$(realpath "${SDC_BIN:-build/asan/sdc}")
SHARED=$(realpath "${SDC_SHARED:-../shared}")
GZ=$SHARED/clip/bpe_simple_vocab_16e6.txt.gz
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

want="49406 320 8853 539 550 18376 6765 320 4558 49407"
got=$("$SDC_BIN" tokenize --vocab "$GZ" "a photograph of an astronaut riding a horse")
[ "$got" = "$want" ] || fail "astronaut: got '$got'"

# the same ids from vocab.json + merges.txt, from the folder, and from a diffusers model
for v in "$SHARED/clip/vocab.json" "$SHARED/clip" "$SHARED/reference/model/sd15-random-tiny-diffusers"; do
    got=$("$SDC_BIN" tokenize --vocab "$v" "a photograph of an astronaut riding a horse")
    [ "$got" = "$want" ] || fail "--vocab $v: got '$got'"
done

# several arguments are one text; empty text is just the start and end tokens
got=$("$SDC_BIN" tokenize --vocab "$GZ" a photograph of an astronaut riding a horse)
[ "$got" = "$want" ] || fail "joined args: got '$got'"
got=$("$SDC_BIN" tokenize --vocab "$GZ" "")
[ "$got" = "49406 49407" ] || fail "empty: got '$got'"
got=$("$SDC_BIN" tokenize --vocab "$GZ" -- "-x")
[ "$got" = "49406 268 343 49407" ] || fail "-- -x: got '$got'"

# untruncated: 150 numbers -> 342 ids (start and end included), the reference count
long=$(seq -s ' ' 0 149)
n=$("$SDC_BIN" tokenize --vocab "$GZ" "$long" | wc -w)
[ "$n" -eq 342 ] || fail "long prompt: $n ids, want 342"

# prompt syntax is not interpreted: the parentheses are tokens
got=$("$SDC_BIN" tokenize --vocab "$GZ" "(cat:1.2)")
[ "$got" = "49406 263 2368 281 272 269 273 264 49407" ] || fail "raw text: got '$got'"

# the search: $SDC_VOCAB, then ~/.local/share/sdc (from a folder with no ../shared)
mkdir -p "$tmp/home/.local/share/sdc" "$tmp/a/b"
cd "$tmp/a/b"
got=$(env -u XDG_DATA_HOME HOME="$tmp/home" SDC_VOCAB="$GZ" "$SDC_BIN" tokenize "a photograph of an astronaut riding a horse")
[ "$got" = "$want" ] || fail "SDC_VOCAB: got '$got'"
set +e
msg=$(env -u SDC_VOCAB -u XDG_DATA_HOME HOME="$tmp/home" "$SDC_BIN" tokenize "x" 2>&1)
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "no vocabulary: exit $rc, want 2"
case "$msg" in *bpe_simple_vocab_16e6.txt.gz*--vocab*) ;; *) fail "no vocabulary: unhelpful message '$msg'" ;; esac
cp "$GZ" "$tmp/home/.local/share/sdc/"
got=$(env -u SDC_VOCAB -u XDG_DATA_HOME HOME="$tmp/home" "$SDC_BIN" tokenize "a photograph of an astronaut riding a horse")
[ "$got" = "$want" ] || fail "~/.local/share/sdc: got '$got'"

# bad usage and bad files
set +e
"$SDC_BIN" tokenize >/dev/null 2>&1; rc1=$?
"$SDC_BIN" tokenize --bogus x >/dev/null 2>&1; rc2=$?
"$SDC_BIN" tokenize --vocab >/dev/null 2>&1; rc3=$?
"$SDC_BIN" tokenize --vocab "$tmp/missing.gz" x >/dev/null 2>&1; rc4=$?
echo "not a vocabulary" > "$tmp/bad.txt"
"$SDC_BIN" tokenize --vocab "$tmp/bad.txt" x >/dev/null 2>&1; rc5=$?
set -e
[ "$rc1" -eq 2 ] && [ "$rc2" -eq 2 ] && [ "$rc3" -eq 2 ] && [ "$rc4" -eq 2 ] ||
    fail "usage errors exit $rc1 $rc2 $rc3 $rc4, want 2"
[ "$rc5" -eq 1 ] || fail "corrupt vocabulary: exit $rc5, want 1"
echo "ok"
