#!/usr/bin/env bash
# Runs every test: the C test binary (unit + reference numerics), then each
# end-to-end script in tests/e2e/. Prints the combined "N passed, N failed"
# as its last line and exits non-zero when anything failed.
#   SDC_BIN    the sdc CLI to test (default build/asan/sdc)
#   SDC_TESTS  the C test binary (default build/asan/sdc_tests)
set -u
cd "$(dirname "$0")/.."
export SDC_BIN=${SDC_BIN:-build/asan/sdc}
SDC_TESTS=${SDC_TESTS:-build/asan/sdc_tests}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

"$SDC_TESTS" "$@" | tee "$log"
rc=${PIPESTATUS[0]}
line=$(tail -n 1 "$log")
if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=${BASH_REMATCH[1]}
    failed=${BASH_REMATCH[2]}
    if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
else
    echo "FAIL sdc_tests did not finish (exit $rc)"
    failed=$((failed + 1))
fi

if [ $# -eq 0 ]; then
    for t in tests/e2e/*.sh; do
        [ -e "$t" ] || continue
        name=$(basename "$t" .sh)
        start=$(date +%s)
        if out=$(bash "$t" 2>&1); then
            echo "ok   e2e/$name ($(( $(date +%s) - start )) s)"
            passed=$((passed + 1))
        else
            echo "FAIL e2e/$name"
            printf '%s\n' "$out" | tail -n 30 | sed 's/^/    /'
            failed=$((failed + 1))
        fi
    done
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
