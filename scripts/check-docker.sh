#!/usr/bin/env bash
# Checks the Docker files without a Docker engine (CI runs it after the tests):
#  1. lints Dockerfile and docker/Dockerfile.cuda with dockerfile-utils (the Dockerfile parser and
#     validator of the VS Code Docker tooling) and docker/compose.yml with dclint (which validates it
#     against the Compose specification's schema too), both from the npm registry, pinned, installed
#     into a temp folder; any error or warning fails;
#  2. checks what the images promise: a non-root USER, HOST=0.0.0.0, EXPOSE 7900, a HEALTHCHECK on
#     /health, `npm ci`, the CUDA provider installed (not skipped) in the CUDA image, a GPU profile
#     with a device reservation in compose.yml;
#  3. runs the CPU Dockerfile's build steps outside Docker, in a temp folder: copies exactly what its
#     COPY lines name, runs its `npm ci --omit=dev` and `init /app`, then starts the server as its
#     ENTRYPOINT does (as an unprivileged user when run as root, like USER node), runs its
#     HEALTHCHECK command, calls the demo app's `run` and the starter app's `predict`, and stops it
#     with SIGTERM, which must end it cleanly.
# Usage: scripts/check-docker.sh            (about a minute; most of it is npm ci building better-sqlite3)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DOCKERFILE="$ROOT/Dockerfile"
CUDA_DOCKERFILE="$ROOT/docker/Dockerfile.cuda"
COMPOSE="$ROOT/docker/compose.yml"
DOCKERFILE_UTILS=dockerfile-utils@0.16.3
DCLINT=dclint@3.1.0
started=$SECONDS

WORK="$(mktemp -d "${TMPDIR:-/tmp}/check-docker.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'check-docker: FAIL: %s\n' "$*" >&2; exit 1; }

# ---- 1. lint -------------------------------------------------------------------------------------
step "installing $DOCKERFILE_UTILS and $DCLINT (npm registry)"
(cd "$WORK" && npm install --prefix "$WORK/tools" --no-save --no-audit --no-fund --loglevel=error \
  "$DOCKERFILE_UTILS" "$DCLINT" >/dev/null)
BIN="$WORK/tools/node_modules/.bin"

for file in "$DOCKERFILE" "$CUDA_DOCKERFILE"; do
  step "dockerfile-utils lint ${file#"$ROOT"/}"
  # -j lists errors and warnings alike; the CLI's own exit code counts errors only.
  report="$("$BIN/dockerfile-utils" lint -j "$file" || true)"
  node -e '
    const [file, text] = process.argv.slice(1);
    let problems;
    try { problems = JSON.parse(text); } catch { console.error(text); process.exit(1); }
    for (const p of problems) console.error(`${file}:${p.range.start.line + 1}: ${p.severity}: ${p.message}`);
    if (problems.length > 0) process.exit(1);
    console.log("no problems");
  ' "${file#"$ROOT"/}" "$report" || fail "${file#"$ROOT"/} has lint problems"
done

step "dclint docker/compose.yml"
"$BIN/dclint" --max-warnings 0 "$COMPOSE" || fail "docker/compose.yml has lint problems"
echo "no problems"

# ---- 2. what the images promise -----------------------------------------------------------------
step "image conventions"
require() { # FILE REGEX WHAT
  grep -Eq -- "$2" "$1" || fail "${1#"$ROOT"/} lacks $3 (/$2/)"
}
for file in "$DOCKERFILE" "$CUDA_DOCKERFILE"; do
  require "$file" '^FROM .* AS deps$' 'a dependency stage'
  require "$file" 'npm ci --omit=dev' 'npm ci --omit=dev'
  require "$file" '^ENV .*HOST=0\.0\.0\.0' 'HOST=0.0.0.0'
  require "$file" '^EXPOSE 7900$' 'EXPOSE 7900'
  require "$file" '^HEALTHCHECK ' 'a HEALTHCHECK'
  require "$file" "/health'" 'a health check on /health'
  require "$file" '^VOLUME \["/data"\]$' 'the /data volume'
  require "$file" '"serve", "--data-dir", "/data"\]$' 'serve --data-dir /data as ENTRYPOINT'
  require "$file" '^CMD \["/app"\]$' 'the app at /app'
  user="$(grep -E '^USER ' "$file" | tail -n 1 | awk '{print $2}')"
  case "$user" in
    "" | root | 0 | 0:*) fail "${file#"$ROOT"/} must end as a non-root USER (has '${user:-none}')" ;;
  esac
  echo "${file#"$ROOT"/}: ok (runs as $user)"
done
require "$DOCKERFILE" '^ARG NODE_IMAGE=node:20-[a-z]+-slim$' 'a slim Node 20 base'
require "$DOCKERFILE" 'ONNXRUNTIME_NODE_INSTALL=skip npm ci' 'the CPU-only onnxruntime-node install'
require "$CUDA_DOCKERFILE" '^ARG CUDA_IMAGE=nvidia/cuda:12\.[0-9.]+-cudnn-runtime-' 'a CUDA 12 + cuDNN runtime base'
require "$CUDA_DOCKERFILE" 'ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci' 'the CUDA provider install'
require "$CUDA_DOCKERFILE" 'test -s .*libonnxruntime_providers_cuda\.so' 'a check that the CUDA provider is there'
if grep -Eq 'ONNXRUNTIME_NODE_INSTALL=skip|onnxruntime-node-install=skip|COPY .*\.npmrc' "$CUDA_DOCKERFILE"; then
  fail "docker/Dockerfile.cuda must not skip onnxruntime-node's CUDA install"
fi
require "$COMPOSE" 'profiles: \["gpu"\]' 'a gpu profile'
require "$COMPOSE" 'driver: nvidia' 'a GPU device reservation'
require "$COMPOSE" 'target: /app$' 'the app mount'
require "$COMPOSE" 'target: /data$' 'the data volume'
echo "compose.yml: ok"

# ---- 3. the CPU Dockerfile's build steps, outside Docker -----------------------------------------
step "copying what the Dockerfile COPYs"
OPT="$WORK/opt/cerebrium-local" # WORKDIR /opt/cerebrium-local
APP="$WORK/app"                 # /app
DATA="$WORK/data"               # /data
mkdir -p "$OPT"
# Every COPY without --from (the build context's files), continuation lines joined.
sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$DOCKERFILE" | grep -E '^COPY ' | grep -v -- '--from=' | while read -r _ args; do
  read -r -a words <<<"$args"
  sources=()
  for word in "${words[@]}"; do case "$word" in --*) ;; *) sources+=("$word") ;; esac; done
  unset 'sources[${#sources[@]}-1]' # the last word is the destination
  for source in "${sources[@]}"; do
    [ -e "$ROOT/$source" ] || fail "the Dockerfile COPYs $source, which the repository lacks"
    [ ! -e "$OPT/$source" ] || continue # copied by an earlier stage already
    mkdir -p "$OPT/$(dirname "$source")"
    cp -R "$ROOT/$source" "$OPT/$source"
    echo "  $source"
  done
done
[ -f "$OPT/package-lock.json" ] || fail "the COPY lines were not read"

step "npm ci --omit=dev (the deps stage)"
# As in the image: the CPU build of onnxruntime-node only. Building better-sqlite3 from source skips the
# prebuilt download, which this offline machine would only wait on; Docker builds may fetch it.
(cd "$OPT" && ONNXRUNTIME_NODE_INSTALL=skip npm_config_build_from_source=true \
  npm ci --omit=dev --no-audit --no-fund --loglevel=error)
[ ! -e "$OPT/node_modules/typescript" ] || fail "npm ci --omit=dev installed devDependencies"

step "init /app, models/ and /data"
(cd "$OPT" && node bin/cerebrium-local.mjs init "$APP" >/dev/null)
mkdir -p "$OPT/models" "$DATA"

step "serve, as the ENTRYPOINT does"
LOG="$WORK/serve.log"
as_user=()
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  # USER node: the code is not its to write; only models/, /data and its home and temp folders are.
  chmod 755 "$WORK" "$WORK/opt"
  mkdir -p "$WORK/home" "$WORK/tmp"
  chown 65534:65534 "$OPT/models" "$DATA" "$WORK/home" "$WORK/tmp"
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  echo "(as uid 65534)"
fi
# The image listens on 0.0.0.0:7900; here, loopback on a free port.
(cd "$OPT" && exec env NODE_ENV=production HOST=127.0.0.1 LOG_FORMAT=json LOG_LEVEL=warn \
  HOME="$WORK/home" TMPDIR="$WORK/tmp" \
  "${as_user[@]}" node bin/cerebrium-local.mjs serve --data-dir "$DATA" "$OPT" "$APP" --port 0) >"$LOG" 2>&1 &
SERVER_PID=$!

URL=""
for _ in $(seq 1 120); do
  URL="$(grep -oE 'Ready on http://[^ ]+' "$LOG" | head -n 1 | cut -d' ' -f3 || true)"
  [ -n "$URL" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$LOG" >&2; fail "serve exited before it was ready"; }
  sleep 0.5
done
[ -n "$URL" ] || { cat "$LOG" >&2; fail "serve printed no 'Ready on' within 60 s"; }
echo "ready on $URL"

step "HEALTHCHECK and calls"
node --input-type=module -e '
  import { readFileSync } from "node:fs";
  import { spawnSync } from "node:child_process";
  const [dockerfile, url] = process.argv.slice(1);
  const check = (ok, what) => { if (!ok) { console.error(`FAIL: ${what}`); process.exit(1); } console.log(`ok: ${what}`); };

  // The HEALTHCHECK command itself, as Docker would run it in the container (exec form).
  const text = readFileSync(dockerfile, "utf8").replace(/\\\n/g, " ");
  const healthcheck = /^HEALTHCHECK .*?\bCMD (\[.*\])\s*$/m.exec(text);
  check(healthcheck, "the HEALTHCHECK is in exec form");
  const [command, ...args] = JSON.parse(healthcheck[1]);
  const port = new URL(url).port;
  const probe = (p) => spawnSync(command === "node" ? process.execPath : command, args, { env: { ...process.env, PORT: p }, timeout: 5000 });
  check(probe(port).status === 0, "the HEALTHCHECK passes against the server");
  check(probe("1").status !== 0, "the HEALTHCHECK fails where nothing listens");

  const post = async (path, body) => {
    const res = await fetch(url + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
  const health = await fetch(url + "/health");
  check(health.status === 200, "GET /health is 200");
  const ready = await fetch(url + "/ready");
  check(ready.status === 200, "GET /ready is 200");
  const demo = await post("/v4/p-local/demo/run", { prompt: "from check-docker" });
  check(demo.status === 200 && demo.body.result?.answer === "Hello from demo! You said: from check-docker",
    `the demo app answers run: ${JSON.stringify(demo.body)}`);
  const starter = await post("/v4/p-local/app/predict", { text: "hello from docker" });
  check(starter.status === 200 && starter.body.result?.words === 3, `the starter app at /app answers predict: ${JSON.stringify(starter.body)}`);
' "$DOCKERFILE" "$URL" || { cat "$LOG" >&2; fail "the server did not answer as it should"; }

step "SIGTERM"
kill -TERM "$SERVER_PID"
status=0
wait "$SERVER_PID" || status=$?
SERVER_PID=""
[ "$status" = 0 ] || { cat "$LOG" >&2; fail "serve exited with $status on SIGTERM"; }
[ -f "$DATA/runs.sqlite" ] || fail "no run store in the data dir"
echo "stopped cleanly; runs kept in the data dir"

printf '\ncheck-docker: all checks passed in %ss\n' "$((SECONDS - started))"
