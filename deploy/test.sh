#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with Node (as root): provisions what the
# tests need (packages, dockerd, npm ci, build, example images), lints, then runs unit,
# integration and end-to-end tests against real etcd processes and the real Docker Engine.
#   npm test                 everything
#   npm test -- PATTERN...   only the test files matching (e.g. test/unit/**/*.test.ts)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
"$repo/deploy/setup.sh"

# No Ryuk reaper image can be pulled here; tests remove what they start themselves.
export TESTCONTAINERS_RYUK_DISABLED=true

echo "test: lint"
npm run --silent lint

if [ "$#" -gt 0 ]; then
  files=("$@")
else
  files=('test/unit/**/*.test.ts' 'test/integration/**/*.test.ts' 'test/e2e/**/*.test.ts')
fi
# Every process the tests start inherits this mark, so one left behind (also one whose parent is
# gone) can be found afterwards and ended by its pid: a leftover that holds this script's output
# open would otherwise keep whoever reads it waiting.
export BERTH_TEST_RUN="run-$$-$RANDOM"
echo "test: mocha ${files[*]}"
status=0
npx mocha "${files[@]}" || status=$?
reap_test_run() {
  local pid left=0
  for environ in /proc/[0-9]*/environ; do
    pid="${environ#/proc/}"; pid="${pid%/environ}"
    [ "$pid" != "$$" ] || continue
    if grep -qzx "BERTH_TEST_RUN=$BERTH_TEST_RUN" "$environ" 2>/dev/null; then
      echo "test: process $pid outlived the tests: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-200) (killed)" >&2
      kill -KILL "$pid" 2>/dev/null || true
      left=$((left + 1))
    fi
  done
  [ "$left" -eq 0 ] || echo "test: $left process(es) outlived the tests; a test does not clean up after itself" >&2
}
# The scan's own commands must not carry the mark.
export -n BERTH_TEST_RUN
reap_test_run
exit "$status"
