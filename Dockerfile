# onnx-serve: build with dev dependencies, run with production ones only, on
# Node 24 LTS (Node 20 is past its end of life).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:24-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 MODEL_REPOSITORY=/app/models SHUTDOWN_DELAY_MS=5000
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# onnxruntime-node ships its runtime for every platform (about 340 MB of
# production node_modules); only this image's own stays (about 97 MB).
ARG TARGETARCH=amd64
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force \
 && keep="linux/$([ "$TARGETARCH" = arm64 ] && echo arm64 || echo x64)" \
 && find node_modules/onnxruntime-node/bin/napi-v6 -mindepth 2 -maxdepth 2 -type d ! -path "*/$keep" -exec rm -rf {} +
COPY --from=build /app/dist ./dist
# The gRPC service's contract, loaded at run time (and for clients to generate stubs from).
COPY proto ./proto
COPY models ./models
USER node
# HTTP, and gRPC (GRPC_PORT, Triton's 8001).
EXPOSE 3000 8001
# Healthy = ready to serve (models loaded, not draining); Kubernetes uses its own probes.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/ready').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/bin/onnx-serve.js", "serve"]
