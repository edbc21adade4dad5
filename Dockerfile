# syntax=docker/dockerfile:1
# cerebrium-local on CPU. The image serves the app mounted at /app (a starter app from
# `cerebrium-local init` is there until you mount yours) and keeps its run store in the /data volume:
#   docker build -t cerebrium-local .
#   docker run --rm --init -p 7900:7900 -v "$PWD/my-app:/app" -v cerebrium-data:/data cerebrium-local
# Arguments after the image name replace "/app": app folders and `serve` options, e.g.
#   docker run --rm --init -p 7900:7900 cerebrium-local /opt/cerebrium-local   # the demo app of this repository
# The GPU image is docker/Dockerfile.cuda; docker/compose.yml runs either. scripts/check-docker.sh runs
# these same steps outside Docker in CI: keep the two in step.
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- Production dependencies, built where a compiler is at hand --------------------------------
FROM ${NODE_IMAGE} AS deps
# better-sqlite3 downloads a prebuilt binary, or builds from source with these when it cannot.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/cerebrium-local
COPY package.json package-lock.json ./
# onnxruntime-node's install script would download its CUDA provider libraries (hundreds of MB) that
# a CPU image never loads; its CPU build ships in the npm package itself.
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# ---- Runtime: no compiler, no npm cache, not root ---------------------------------------------
FROM ${NODE_IMAGE}
# Python apps (main.py) run on this interpreter; python3-venv is for `serve --install-deps`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-pip \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/cerebrium-local
COPY --from=deps /opt/cerebrium-local/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json cerebrium.toml ./
COPY bin ./bin
COPY src ./src
COPY functions ./functions
# /app: a starter app, replaced by whatever is mounted there. models/: the demo app writes its
# generated model there on first use. /data: the run store (--data-dir) and the dev JWT secret.
RUN node bin/cerebrium-local.mjs init /app \
 && mkdir -p models /data \
 && chown node:node models /data \
 && rm -rf /tmp/tsx-*

ENV NODE_ENV=production HOST=0.0.0.0 PORT=7900 LOG_FORMAT=json
USER node
VOLUME ["/data"]
EXPOSE 7900
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 7900) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/cerebrium-local.mjs", "serve", "--data-dir", "/data"]
CMD ["/app"]
