#!/usr/bin/env bash
# Runs every fuzz target of the module for the given time each (default 10m).
# Usage: scripts/fuzz.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-10m}
failed=0
while read -r pkg; do
  for f in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "== $pkg $f ($t)"
    if ! go test -run '^$' -fuzz "^${f}\$" -fuzztime "$t" "$pkg"; then
      failed=1
      echo "FAIL: $pkg $f"
    fi
  done
done < <(go list ./...)
exit $failed
