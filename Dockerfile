# syntax=docker/dockerfile:1
# paystream as one container image: the compiled single binary on a distroless base.
#   docker build -t paystream .
#   docker run -p 3000:3000 -e API_KEYS=… -e CARD_ENCRYPTION_KEY=… -e GATEWAY=stripe -e STRIPE_SECRET_KEY=… -v paystream-data:/data paystream
# docker-compose.yml runs it with PostgreSQL and Apache Kafka.

# Build stage: npm ci installs the Bun that package-lock.json pins (npm package "bun"), which
# compiles src/main.ts into one executable for the build platform (amd64 or arm64).
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# npm ci's postinstall applies these fixes to dependencies (patch-package), as it does locally.
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY modules ./modules
COPY drizzle ./drizzle
COPY scripts/build.sh ./scripts/build.sh
RUN bash scripts/build.sh /out/paystream \
 && mkdir /out/data

# Runtime stage: the binary links only glibc, so distroless "base" (glibc, CA certificates,
# tzdata; no shell, no package manager) is enough.
FROM gcr.io/distroless/base-debian12:nonroot
COPY --from=build /out/paystream /usr/local/bin/paystream
# PGlite (the default database) and nothing else writes here; mount a volume to keep it.
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATABASE_URL=pglite:///data/pglite
# The runtime's settings (JavaScriptCore, mimalloc), as scripts/runtime-env.mjs gives them to `npm start`.
ENV BUN_JSC_useFTLJIT=0 \
    BUN_JSC_heapGrowthMaxIncrease=0.6 \
    MIMALLOC_PURGE_DELAY=1000 \
    BUN_JSC_useOMGJIT=0
USER 65532:65532
EXPOSE 3000
# No curl in the image: the binary probes its own /health/ready. Worker containers serve no
# HTTP and turn this off (see docker-compose.yml).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/paystream", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/paystream"]
CMD ["--role=all"]
