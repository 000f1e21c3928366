# kiln sandbox image for Python. BASE is the official image by default;
# `npm run images -- --air-gapped` passes a local Debian base instead.
ARG BASE=python:3.12-slim-bookworm
FROM ${BASE}
# session.py: a session box's loop, which harness.py imports only then (from its own directory)
COPY runtimes/wrapper.py runtimes/wrapper_session.py runtimes/wrapper_procs.py runtimes/python/harness.py runtimes/python/session.py /opt/kiln/
# E2B's home (its SDKs' default working directory) is the session's workspace; and its commands
# are login shells (bash -l -c): /etc/profile asks bash its uid, not a subprocess (id), saving ~1 ms each
RUN mkdir -p /home && ln -sfn /mnt/req /home/user && sed -i 's/"$(id -u)"/"${EUID:-$(id -u)}"/' /etc/profile
# compiled once here: the read-only root keeps a box from caching what it imports (a session's modules)
RUN python3 -m compileall -q --invalidation-mode unchecked-hash /opt/kiln
# The wrapper runs as an unprivileged user with no home but the tmpfs /tmp.
ENV HOME=/tmp LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /mnt/req
ENTRYPOINT ["python3", "-I", "-S", "/opt/kiln/wrapper.py", "python3", "-u", "/opt/kiln/harness.py"]
