# The kiln service. It drives the host's Docker engine (docker-compose.yml
# mounts /var/run/docker.sock) to start the sandbox containers; the sandbox
# images themselves come from sandbox-images/.
#
# BASE needs Node >= 20.19 and npm. Without a registry, `npm run images --
# --air-gapped` builds kiln-base-npm:bookworm, whose npm installs offline.
ARG BASE=node:22-bookworm-slim

# Build stage: src/ compiled to dist/ by TypeScript alone (type checking is the test suite's job;
# here it would need every @types package), so the image never runs a TypeScript loader.
FROM ${BASE} AS build
WORKDIR /build
# package.json too: its "type": "module" is what makes TypeScript emit ES modules
COPY package.json package-lock.json ./
RUN npm install --prefix /tsc --no-audit --no-fund --no-save \
      "typescript@$(node -p "require('./package-lock.json').packages['node_modules/typescript'].version")"
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN echo '{"extends":"./tsconfig.build.json","compilerOptions":{"types":[]}}' > tsconfig.image.json \
    && node /tsc/node_modules/typescript/bin/tsc -p tsconfig.image.json --noCheck

FROM ${BASE}
WORKDIR /app
ENV NODE_ENV=production

# Production dependencies only.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY --from=build /build/dist ./dist
# What the boxes need: the in-box programs (read by the build box) and the sandbox images' recipes.
COPY runtimes ./runtimes
COPY sandbox-images ./sandbox-images

# Listen on every interface of the container; publish the port to the host's
# loopback only (docker-compose.yml does) unless you mean to expose it.
ENV KILN_HOST=0.0.0.0 PORT=8080
EXPOSE 8080

# Runs as root, on purpose: kiln's one job is talking to the Docker socket,
# which on a Linux host is root:docker mode 660 with a docker group id that
# differs from host to host (on Docker Desktop it is root-only). An
# unprivileged user in here could not open it without per-host tuning
# (docker-compose.yml's KILN_USER, e.g. 1000:<gid of the socket>). It buys
# little anyway: whoever can use the socket is root on the host.
USER root

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.KILN_PORT||process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# node itself, not `npm start`: that puts npm and a shell between `docker stop`
# and kiln, and kiln must get SIGTERM to drain in-flight executions.
CMD ["node", "dist/main.js"]
