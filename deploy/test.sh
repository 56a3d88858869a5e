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
echo "test: mocha ${files[*]}"
npx mocha "${files[@]}"
