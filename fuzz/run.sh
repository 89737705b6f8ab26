#!/usr/bin/env bash
# Runs every libFuzzer target (make fuzz) for N seconds each on its seed
# corpus (fuzz/corpus/NAME, read-only: new inputs go to a temp folder).
#   fuzz/run.sh [SECONDS] [NAME...]     default: 10 s, every target
# Exit status: non-zero when a target crashed; its reproducer is kept in
# build/fuzz/crashes/ (replay: build/fuzz/fuzz_NAME FILE).
set -u
cd "$(dirname "$0")/.."
secs=${1:-10}
shift || true
make -s -j2 fuzz || exit 1
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in fuzz/fuzz_*.c; do n=$(basename "$f" .c); targets+=("${n#fuzz_}"); done
fi
mkdir -p build/fuzz/crashes
status=0
for t in "${targets[@]}"; do
    work=$(mktemp -d)
    seeds=fuzz/corpus/$t
    [ -d "$seeds" ] || seeds=
    if build/fuzz/fuzz_"$t" "$work" $seeds -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix=build/fuzz/crashes/"$t"- -print_final_stats=1 >"$work.log" 2>&1; then
        echo "ok   fuzz_$t ($secs s, $(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "$work.log" | grep -o '[0-9]*$') runs)"
    else
        echo "FAIL fuzz_$t (reproducer in build/fuzz/crashes/)"
        grep -B2 -A12 -m1 "ERROR\|runtime error\|SUMMARY\|deadly" "$work.log" | head -n 30
        status=1
    fi
    rm -rf "$work" "$work.log"
done
exit $status
