#!/usr/bin/env bash
# make demo: the simulated provider, the sidecar in front of it and a bounded
# traffic generator, all on loopback. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

./bin/simulator -listen 127.0.0.1:8090 -ttft 150ms -gap 20ms &
pids+=($!)
./bin/infermeter -config examples/demo.yaml &
pids+=($!)

for _ in $(seq 1 50); do
  curl -fsS http://127.0.0.1:9090/readyz >/dev/null 2>&1 && break
  sleep 0.2
done

cat <<MSG

infermeter demo is running:
  proxy      http://127.0.0.1:8080   (OpenAI, Anthropic and Gemini SDKs point here)
  admin API  http://127.0.0.1:9090   (/api/..., /metrics, /healthz, /readyz)
  keys       im-demo-alice (admin), im-demo-bob, im-demo-carol

  curl -s -H 'Authorization: Bearer im-demo-alice' 'http://127.0.0.1:9090/api/organizations/acme/usage?group_by=model'

Sending traffic for 60 s (at most 2000 requests)...
MSG

./bin/loadgen -target http://127.0.0.1:8080 -keys im-demo-alice,im-demo-bob,im-demo-carol -duration 60s -requests 2000 -rate 20
echo
echo "Traffic done. The sidecar keeps running; press Ctrl-C to stop."
wait "${pids[1]}"
