# onnx-serve: build with dev dependencies, run with production ones only.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 MODEL_REPOSITORY=/app/models SHUTDOWN_DELAY_MS=5000
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY models ./models
USER node
EXPOSE 3000
# Liveness and readiness are HTTP probes (/health/live, /health/ready) in the orchestrator.
CMD ["node", "dist/server.js"]
