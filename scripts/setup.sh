#!/usr/bin/env bash
# npm run setup: makes this machine ready to run kiln and its tests.
#   - a Docker engine: installed with apt (Debian/Ubuntu, as root) if missing, started if not running;
#   - node_modules, if missing;
#   - the sandbox images: from official bases when a registry answers, else air-gapped from Debian's packages.
# Flags: --air-gapped (never try a registry), --online (never fall back).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=auto
for arg in "$@"; do
  case "$arg" in
    --air-gapped) mode=air-gapped ;;
    --online) mode=online ;;
    *) echo "unknown argument: $arg (known: --air-gapped, --online)" >&2; exit 2 ;;
  esac
done

say() { echo "setup: $*"; }

install=()
command -v dockerd >/dev/null || install+=(docker.io)
[ "$mode" != online ] && ! command -v debootstrap >/dev/null && install+=(debootstrap)
if [ ${#install[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    say "please install ${install[*]} (this script installs them only as root with apt)"; exit 1
  fi
  say "installing ${install[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${install[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || { say "the Docker engine is not running; start it (e.g. sudo systemctl start docker)"; exit 1; }
  say "starting dockerd (log: /var/log/dockerd.log)"
  setsid nohup dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { say "dockerd did not start:"; tail -20 /var/log/dockerd.log; exit 1; }
fi
docker version --format 'setup: Docker engine {{.Server.Version}} (API {{.Server.APIVersion}})'

[ -d node_modules ] || npm ci --no-audit --no-fund

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
say "ready: KILN_API_KEYS=<a key of 16+ characters> npm start"
