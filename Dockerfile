# syntax=docker/dockerfile:1
# Production image: compiled JavaScript on a current Node LTS, run as a non-root user.
# `npm run build` (tsconfig.build.json) compiles src/ and the operational scripts only, so the
# image needs neither test/ nor scripts/bench/, nor devtools/ (the call simulator and log mode's
# Twilio stand-in: development only; production never runs in log mode, src/log-mode.ts). In the image, run the tools with node, e.g.
#   node dist/scripts/migrate.js | keys-create.js | keys-list.js | keys-revoke.js | audit-verify.js | audit-export.js | flows-check.js
# (tsx is a development dependency and is pruned). The service runs as `node` directly (PID 1,
# with its own SIGTERM handler), so the stop signal reaches it with no npm or shell in between.

FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
COPY web ./web
# Emits dist/src (with src/drops/data/*.json, through resolveJsonModule) and dist/scripts, and the
# staff console's static bundle into web/dist (Vite and React are build-only: pruned after).
RUN npm run build && npm run build:web && npm prune --omit=dev

FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=8080 \
    DATA_DIR=/var/lib/ahl
WORKDIR /app
RUN groupadd --system ahl && useradd --system --gid ahl --home-dir /app --shell /usr/sbin/nologin ahl \
    && mkdir -p /var/lib/ahl && chown ahl:ahl /var/lib/ahl && chmod 700 /var/lib/ahl
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --from=build --chown=root:root /app/web/dist ./web/dist
# package.json: "type": "module" for dist/, and the anchor flow-loader uses to find audio/.
COPY --chown=root:root package.json ./
COPY --chown=root:root callflows ./callflows
COPY --chown=root:root audio ./audio
USER ahl
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js"]
