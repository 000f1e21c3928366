# kiln sandbox image for JavaScript and TypeScript (the harness erases types
# with Node's own transform, so Node must be >= 22.13). BASE is the official
# image by default; `npm run images -- --air-gapped` passes a local Debian
# base with Node (and Python) added instead.
ARG BASE=node:22-bookworm-slim
FROM ${BASE}
# The wrapper (PID 1 of every sandbox) is Python; the official Node image has none.
RUN command -v python3 >/dev/null || (apt-get update && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/*)
# session.mjs: a session box's loop, which harness.mjs imports only then (from its own directory)
COPY runtimes/wrapper.py runtimes/wrapper_session.py runtimes/wrapper_procs.py runtimes/node/harness.mjs runtimes/node/session.mjs /opt/kiln/
# E2B's home (its SDKs' default working directory) is the session's workspace; and its commands
# are login shells (bash -l -c): /etc/profile asks bash its uid, not a subprocess (id), saving ~1 ms each
RUN mkdir -p /home && ln -sfn /mnt/req /home/user && sed -i 's/"$(id -u)"/"${EUID:-$(id -u)}"/' /etc/profile
# compiled once here: the read-only root keeps a box from caching what it imports (a session's modules)
RUN python3 -m compileall -q --invalidation-mode unchecked-hash /opt/kiln
# found by module resolution from /mnt/req: ConductorOne functions import it (see its index.mjs)
COPY runtimes/node/c1-functions-sdk /node_modules/@c1/functions-sdk
ENV HOME=/tmp LANG=C.UTF-8 NODE_ENV=production PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /mnt/req
# --disable-warning: Node's notice that it honours the proxy variables (NODE_USE_ENV_PROXY) is not the code's output
ENTRYPOINT ["python3", "-I", "-S", "/opt/kiln/wrapper.py", "node", "--disable-warning=UNDICI-EHPA", "/opt/kiln/harness.mjs"]
