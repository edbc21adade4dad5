#!/usr/bin/env bash
# Server-thread CPU per call: serves bench/apps/trivial, warms it for 3 s, then reads the main
# thread's utime+stime from /proc around a 6 s autocannon run (50 connections) and divides by the
# calls made. Linux only. Usage: bash bench/server-thread-cpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
port=${PORT:-7940}
data=$(mktemp -d)
PORT=$port LOG_FORMAT=json node bin/cerebrium-local.mjs serve bench/apps/trivial --data-dir "$data" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data"' EXIT
until curl -sf "http://127.0.0.1:$port/ready" >/dev/null; do sleep 0.2; done
url="http://127.0.0.1:$port/v4/p-bench/bench/hello"
load() { npx autocannon -c 50 -d "$1" -m POST -H content-type=application/json -b '{}' --json "$url" 2>/dev/null; }
ticks() { awk '{print $14 + $15}' "/proc/$server/task/$server/stat"; }
load 3 >/dev/null
before=$(ticks)
result=$(load 6)
after=$(ticks)
calls=$(node -e 'const r = JSON.parse(process.argv[1]); console.log(r.requests.total)' "$result")
rps=$(node -e 'const r = JSON.parse(process.argv[1]); console.log(Math.round(r.requests.average))' "$result")
hz=$(getconf CLK_TCK)
node -e "const [t, c, hz, rps] = process.argv.slice(1).map(Number); console.log(\`server thread: \${(t / hz * 1e6 / c).toFixed(0)} µs CPU per call over \${c} calls (\${rps} req/s)\`)" \
  "$((after - before))" "$calls" "$hz" "$rps"
