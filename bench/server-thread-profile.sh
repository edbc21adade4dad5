#!/usr/bin/env bash
# Server-thread CPU per call, from a V8 CPU profile: serves bench/apps/trivial under --cpu-prof,
# makes exactly CALLS calls (default 25000, 50 connections), stops the server and sums the main
# thread's non-idle samples. Steadier than server-thread-cpu.sh on a busy machine (it counts only
# the thread's own samples), but it includes start-up and the profiler's own overhead: compare two
# checkouts with it, not with other figures. Usage: bash bench/server-thread-profile.sh [CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-25000}
port=${PORT:-7945}
data=$(mktemp -d)
prof=$(mktemp -d)
trap 'rm -rf "$data" "$prof"' EXIT
PORT=$port node --cpu-prof --cpu-prof-dir="$prof" bin/cerebrium-local.mjs serve bench/apps/trivial --data-dir "$data" --log-level warn >/dev/null 2>&1 &
server=$!
until curl -sf "http://127.0.0.1:$port/ready" >/dev/null; do sleep 0.2; done
npx autocannon -c 50 -a "$calls" -m POST -H content-type=application/json -b '{}' "http://127.0.0.1:$port/v4/p-bench/bench/hello" >/dev/null 2>&1
kill -INT "$server"
wait "$server" || true
# The main thread's profile is the one numbered 0 (worker threads get their own files).
node -e '
const [file, calls] = [process.argv[1], Number(process.argv[2])];
const profile = JSON.parse(require("node:fs").readFileSync(file, "utf8"));
const names = new Map(profile.nodes.map((n) => [n.id, n.callFrame.functionName]));
let busy = 0;
profile.samples.forEach((id, i) => { if (names.get(id) !== "(idle)") busy += profile.timeDeltas[i] ?? 0; });
console.log(`server thread: ${(busy / calls).toFixed(0)} µs busy per call over ${calls} calls (start-up included, profiled)`);
' "$(ls "$prof"/CPU.*.0.001.cpuprofile)" "$calls"
