# kiln sandbox image for JavaScript and TypeScript (the harness erases types
# with Node's own transform, so Node must be >= 22.13). BASE is the official
# image by default; `npm run images -- --air-gapped` passes a local Debian
# base with Node added instead.
ARG BASE=node:22-bookworm-slim
FROM ${BASE}
COPY runtimes/node/wrapper.mjs runtimes/node/harness.mjs /opt/kiln/
ENV HOME=/tmp LANG=C.UTF-8 NODE_ENV=production
USER 10001:10001
WORKDIR /mnt/req
# --disable-sigusr1: the code must not open an inspector on PID 1 by signalling it
ENTRYPOINT ["node", "--disable-sigusr1", "/opt/kiln/wrapper.mjs"]
