# cerebrium-local on CPU. Serves the demo app by default; mount your app at /app and pass its path:
#   docker build -t cerebrium-local .
#   docker run --rm -p 7900:7900 -v "$PWD/my-app:/app" cerebrium-local /app
FROM node:20-bookworm-slim

# Native modules (better-sqlite3) build from source when no prebuilt binary can be fetched.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/cerebrium-local
# .npmrc skips onnxruntime-node's postinstall, which would download CUDA libraries (the CPU build ships in it).
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev && npm cache clean --force
COPY bin ./bin
COPY src ./src
COPY functions ./functions
COPY cerebrium.toml tsconfig.json ./
# The demo's generated stand-in models (models/README.md), built now: the app folder is not writable at run time.
COPY scripts ./scripts
COPY models/README.md ./models/
RUN node bin/run-ts.mjs scripts/generate-models.ts

ENV NODE_ENV=production HOST=0.0.0.0 PORT=7900 LOG_FORMAT=json
USER node
EXPOSE 7900
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:7900/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["node", "bin/cerebrium-local.mjs", "serve"]
CMD ["/opt/cerebrium-local"]
