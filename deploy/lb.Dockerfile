# The load balancer in front of compose.replicas.yaml's kiln replicas (HAProxy), from either base:
#   BASE=haproxy:3.0-bookworm        the official image (default; needs a registry)
#   BASE=kiln-base-deploy:bookworm   Debian's haproxy 2.6, built without a registry by
#                                    `npm run images -- --air-gapped --deploy-base`
# haproxy.cfg uses nothing newer than 2.6.
ARG BASE=haproxy:3.0-bookworm
FROM ${BASE}
COPY haproxy.cfg /usr/local/etc/haproxy/haproxy.cfg
# Both bases have this user; port 8080 needs no privilege.
USER haproxy
EXPOSE 8080
# -W master-worker, -db in the foreground: the official image's own defaults, set here for Debian's too.
ENTRYPOINT ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
