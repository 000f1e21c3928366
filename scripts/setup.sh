#!/usr/bin/env bash
# npm run setup: makes this machine ready to run kiln and its tests.
#   - a Docker engine: installed with apt (Debian/Ubuntu, as root) if missing, started if not running;
#   - node_modules, if missing;
#   - the sandbox images: from official bases when a registry answers, else air-gapped from Debian's packages.
#   - with --gvisor: gVisor's runsc from the distribution, registered with the engine as `runsc`;
#   - PostgreSQL for the tests of the shared store (replicas): Debian's package, started, with a `kiln`
#     role and a `kiln_test` database (skipped when KILN_TEST_DATABASE_URL names another one).
# Flags: --air-gapped (never try a registry), --online (never fall back), --gvisor.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=auto
gvisor=false
for arg in "$@"; do
  case "$arg" in
    --air-gapped) mode=air-gapped ;;
    --online) mode=online ;;
    --gvisor) gvisor=true ;;
    *) echo "unknown argument: $arg (known: --air-gapped, --online, --gvisor)" >&2; exit 2 ;;
  esac
done

say() { echo "setup: $*"; }

install=()
command -v dockerd >/dev/null || install+=(docker.io)
[ "$mode" != online ] && ! command -v debootstrap >/dev/null && install+=(debootstrap)
$gvisor && ! command -v runsc >/dev/null && install+=(runsc)
[ -z "${KILN_TEST_DATABASE_URL:-}" ] && ! command -v pg_ctlcluster >/dev/null && install+=(postgresql)
# the docs' examples (run by a test) read answers with jq
! command -v jq >/dev/null && install+=(jq)
# the console's tests drive Debian's Chromium with playwright-core (no browser download here)
! command -v chromium >/dev/null && install+=(chromium)
if [ ${#install[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    say "please install ${install[*]} (this script installs them only as root with apt)"; exit 1
  fi
  say "installing ${install[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${install[@]}" >/dev/null
fi

start_dockerd() {
  setsid nohup dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { say "dockerd did not start:"; tail -20 /var/log/dockerd.log; exit 1; }
}

if $gvisor; then
  # Register runsc in daemon.json, keeping what else is there. Under Docker's `--network none`, runsc
  # needs its own --network=none, or it refuses to start the box. --oci-seccomp applies the box's
  # seccomp profile (Docker's default) to the code inside gVisor too: without it runsc filters only
  # its own kernel's calls to the host, and the code may call what runc's boxes refuse (unshare of a
  # user namespace, keyctl, …) against gVisor's kernel. An earlier registration without it is replaced.
  daemon_json=/etc/docker/daemon.json
  [ -w /etc/docker ] || [ "$(id -u)" -eq 0 ] || { say "--gvisor needs root to edit $daemon_json"; exit 1; }
  mkdir -p /etc/docker
  changed=$(python3 - "$daemon_json" "$(command -v runsc)" <<'PY'
import json, os, sys
path, runsc = sys.argv[1], sys.argv[2]
config = json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else {}
want = {"path": runsc, "runtimeArgs": ["--network=none", "--oci-seccomp"]}
if config.get("runtimes", {}).get("runsc") == want:
    print("no")
else:
    config.setdefault("runtimes", {})["runsc"] = want
    json.dump(config, open(path, "w"), indent=2)
    print("yes")
PY
)
  if [ "$changed" = yes ] && docker info >/dev/null 2>&1; then
    # the engine reads daemon.json at start: restart it, but only when the file changed
    if command -v systemctl >/dev/null && systemctl is-active --quiet docker 2>/dev/null; then
      say "registering runsc: restarting the Docker engine (systemctl)"
      systemctl restart docker
    else
      say "registering runsc: restarting dockerd"
      pkill -x dockerd || true
      for _ in $(seq 1 60); do pgrep -x dockerd >/dev/null || break; sleep 0.5; done
      rm -f /var/run/docker.pid
      start_dockerd
    fi
  fi
fi

if ! docker info >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || { say "the Docker engine is not running; start it (e.g. sudo systemctl start docker)"; exit 1; }
  say "starting dockerd (log: /var/log/dockerd.log)"
  start_dockerd
fi
docker version --format 'setup: Docker engine {{.Server.Version}} (API {{.Server.APIVersion}})'

[ -d node_modules ] || npm ci --no-audit --no-fund
# the service runs compiled: src/ → dist/ (npm start is node dist/main.js)
npm run build --silent

if [ -z "${KILN_TEST_DATABASE_URL:-}" ]; then
  # the first cluster Debian made (e.g. 15 main); started if it is down
  read -r pg_version pg_cluster pg_port pg_status _ < <(pg_lsclusters --no-header | head -1)
  [ -n "${pg_version:-}" ] || { say "no PostgreSQL cluster found (pg_createcluster 15 main)"; exit 1; }
  if [ "$pg_status" != online ]; then
    say "starting PostgreSQL $pg_version/$pg_cluster"
    pg_ctlcluster "$pg_version" "$pg_cluster" start
  fi
  psql_admin() { su postgres -c "psql -p $pg_port -qtAc \"$1\""; }
  [ "$(psql_admin "select 1 from pg_roles where rolname = 'kiln'")" = 1 ] || psql_admin "create role kiln login createdb password 'kiln'"
  # (createdb: the replica tests make a database of their own, and drop it)
  psql_admin "alter role kiln createdb"
  [ "$(psql_admin "select 1 from pg_database where datname = 'kiln_test'")" = 1 ] || psql_admin "create database kiln_test owner kiln"
  [ "$pg_port" = 5432 ] || say "PostgreSQL listens on $pg_port: KILN_TEST_DATABASE_URL=postgres://kiln:kiln@127.0.0.1:$pg_port/kiln_test"
fi

if [ "$mode" = auto ]; then
  if docker image inspect python:3.12-slim-bookworm >/dev/null 2>&1 && docker image inspect node:22-bookworm-slim >/dev/null 2>&1; then
    mode=online
  elif timeout 60 docker pull -q python:3.12-slim-bookworm >/dev/null 2>&1 && timeout 120 docker pull -q node:22-bookworm-slim >/dev/null 2>&1; then
    mode=online
  else
    say "no registry answers: building the sandbox images air-gapped, from Debian's packages"
    mode=air-gapped
  fi
fi
if [ "$mode" = air-gapped ]; then
  bash sandbox-images/build.sh --air-gapped
else
  bash sandbox-images/build.sh
fi
$gvisor && docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' && say "gVisor: runsc is registered; run kiln with KILN_OCI_RUNTIME=runsc"
say "ready: KILN_API_KEYS=<a key of 16+ characters> npm start"
