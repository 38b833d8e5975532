#!/usr/bin/env bash
# A real Locust run of bench/locustfile.py (CI runs it): onnx-serve started
# from dist/ on 127.0.0.1 with the bundled iris model (or MODEL_REPOSITORY
# and DEFAULT_MODEL from the environment: your own), a minted token, 10
# users for SECONDS seconds (default 10), headless. Exits non-zero on any
# failed request; Locust prints its stats table. Needs `npm run build` and
# Locust (Debian: python3-locust; elsewhere: pip install locust).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${SECONDS_TO_RUN:-10}
port=$(node -e "require('./dist/scripts/free-port').freePort().then(port => console.log(port))")
log=$(mktemp)
PORT=$port GRPC_PORT=0 HOST=127.0.0.1 LOG_LEVEL=warn MODEL_REPOSITORY=${MODEL_REPOSITORY:-./models} DEFAULT_MODEL=${DEFAULT_MODEL:-iris} RATE_LIMIT_MAX=10000000 \
  node dist/server.js > "$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -f "$log"' EXIT
# Ready within 10 s, or the run fails here.
node -e "
  const until = Date.now() + 10000
  const probe = () => fetch('http://127.0.0.1:$port/health/ready').then(r => r.ok, () => false)
    .then(ok => ok ? process.exit(0) : Date.now() > until ? process.exit(1) : setTimeout(probe, 100))
  probe()" || { echo 'onnx-serve did not become ready:'; cat "$log"; exit 1; }
ONNX_SERVE_TOKEN=$(node dist/bin/onnx-serve.js token --sub locust --scope predict --ttl 10m)
export ONNX_SERVE_TOKEN
locust -f bench/locustfile.py --headless -u 10 -r 10 -t "${seconds}s" --host "http://127.0.0.1:$port" --only-summary
