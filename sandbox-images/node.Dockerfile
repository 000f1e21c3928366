# kiln sandbox image for JavaScript and TypeScript (transpiled by kiln before
# it is sent in). BASE is the official image by default; `npm run images --
# --air-gapped` passes a local Debian base with Node added instead.
ARG BASE=node:22-bookworm-slim
FROM ${BASE}
COPY runtimes/node/wrapper.mjs runtimes/node/harness.mjs /opt/kiln/
ENV HOME=/tmp LANG=C.UTF-8 NODE_ENV=production
USER 10001:10001
WORKDIR /mnt/req
ENTRYPOINT ["node", "/opt/kiln/wrapper.mjs"]
