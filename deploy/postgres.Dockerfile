# PostgreSQL for compose.replicas.yaml, from either base:
#   BASE=postgres:16-bookworm        the official image (default; needs a registry)
#   BASE=kiln-base-deploy:bookworm   Debian's postgresql 15, built without a registry by
#                                    `npm run images -- --air-gapped --deploy-base`
# Either way the container takes POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB as the official image does.
ARG BASE=postgres:16-bookworm
FROM ${BASE}

ENV PGDATA=/var/lib/postgresql/data
# The official image has these already; Debian's package leaves them to systemd.
RUN mkdir -p "$PGDATA" /var/run/postgresql \
 && chown postgres:postgres "$PGDATA" /var/run/postgresql \
 && chmod 700 "$PGDATA"
COPY postgres/kiln-postgres.sh /usr/local/bin/kiln-postgres
USER postgres
EXPOSE 5432
# "fast" shutdown: ends sessions, then a clean checkpoint (the official image's choice too)
STOPSIGNAL SIGINT
ENTRYPOINT ["kiln-postgres"]
