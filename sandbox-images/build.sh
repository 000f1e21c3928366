#!/usr/bin/env bash
# Builds kiln's sandbox images.
#   npm run images                   from the official python/node base images (needs a registry)
#   npm run images -- --air-gapped   from a local Debian base made with debootstrap (no registry needed)
#   ... --air-gapped --service-base  also builds kiln-base-npm:bookworm, a base for ./Dockerfile (the service)
#                                    whose `npm ci` then needs no registry: KILN_SERVICE_BASE=kiln-base-npm:bookworm
#   ... --deploy-base                also builds kiln-base-deploy:bookworm (debootstrap: Debian's postgresql and
#                                    haproxy), the base of deploy/'s Postgres and load balancer images without a
#                                    registry (deploy/README.md); needs no registry whatever the other flags
# Local bases are built once and kept; `docker rmi kiln-base:bookworm kiln-base-node:bookworm` rebuilds them
# (kiln-base-deploy:bookworm likewise).
# Image names follow KILN_PYTHON_IMAGE / KILN_NODE_IMAGE, as the service reads them.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON_IMAGE=${KILN_PYTHON_IMAGE:-kiln-python:latest}
NODE_IMAGE=${KILN_NODE_IMAGE:-kiln-node:latest}
PYTHON_BUILD_IMAGE=${KILN_PYTHON_BUILD_IMAGE:-kiln-python-build:latest}
NODE_BUILD_IMAGE=${KILN_NODE_BUILD_IMAGE:-kiln-node-build:latest}
DEBIAN_BASE=kiln-base:bookworm
NODE_VERSION=${KILN_AIRGAP_NODE_VERSION:-22}
NPM_VERSION=${KILN_AIRGAP_NPM_VERSION:-10}
air_gapped=false
service_base=false
deploy_base=false
for arg in "$@"; do
  case "$arg" in
    --air-gapped) air_gapped=true ;;
    --service-base) service_base=true ;;
    --deploy-base) deploy_base=true ;;
    *) echo "unknown argument: $arg (known: --air-gapped, --service-base, --deploy-base)" >&2; exit 2 ;;
  esac
done

python_base=() node_base=()
if $air_gapped; then
  if ! docker image inspect "$DEBIAN_BASE" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || { echo "--air-gapped needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
    rootfs=$(mktemp -d)
    trap 'rm -rf "$rootfs"' EXIT
    echo "building $DEBIAN_BASE with debootstrap (about a minute)"
    debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$rootfs" >/dev/null
    tar -C "$rootfs" -c . | docker import - "$DEBIAN_BASE" >/dev/null
  fi
  # Debian's nodejs is 18 (end of life): take the official Node binary from the npm registry instead.
  if ! docker image inspect kiln-base-node:bookworm >/dev/null 2>&1; then
    node_ctx=$(mktemp -d)
    case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) echo "no Node package for $(uname -m)" >&2; exit 1 ;; esac
    (cd "$node_ctx" && npm pack --silent "node-linux-$arch@$NODE_VERSION" >/dev/null && tar xzf node-linux-*.tgz package/bin/node)
    printf 'FROM %s\nCOPY package/bin/node /usr/local/bin/node\n' "$DEBIAN_BASE" > "$node_ctx/Dockerfile"
    docker build -q -t kiln-base-node:bookworm "$node_ctx" >/dev/null
    rm -rf "$node_ctx"
  fi
fi
if $air_gapped && $service_base; then
  # The service image (./Dockerfile, `docker compose`) runs `npm ci`: give it npm, plus an npm cache holding
  # kiln's locked production dependencies (and TypeScript, which compiles the service in its build stage) and
  # an npmrc that says offline, so that install reads only the cache.
  npm_ctx=$(mktemp -d)
  mkdir "$npm_ctx/npm" "$npm_ctx/deps"
  cp package.json package-lock.json "$npm_ctx/deps/"
  (cd "$npm_ctx" && tar xzf "$(npm pack --silent "npm@$NPM_VERSION")" -C npm --strip-components=1 \
    && cd deps && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --cache "$npm_ctx/cache" >/dev/null \
    && npm cache add --cache "$npm_ctx/cache" "typescript@$(node -p "require('./package-lock.json').packages['node_modules/typescript'].version")" >/dev/null)
  # better-sqlite3 is a native addon: its install downloads a prebuilt binary from GitHub or compiles one,
  # and neither works offline. Compile it here, against the headers of the image's own Node, and leave it
  # in the npm cache where its installer (prebuild-install) looks before it downloads.
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; esac
  (cd "$npm_ctx" && mkdir headers && npm pack --silent "node-linux-$arch@$NODE_VERSION" >/dev/null \
    && tar xzf node-linux-*.tgz -C headers --strip-components=1 package/include && rm node-linux-*.tgz)
  abi=$(sed -n 's/^#define NODE_MODULE_VERSION \([0-9][0-9]*\).*/\1/p' "$npm_ctx/headers/include/node/node_version.h")
  (cd "$npm_ctx/deps" && npm rebuild better-sqlite3 --build-from-source --nodedir="$npm_ctx/headers" --cache "$npm_ctx/cache" >/dev/null)
  prebuild=$(cd "$npm_ctx/deps" && node -e '
    const u = require("prebuild-install/util"), pkg = require("better-sqlite3/package.json");
    const url = u.getDownloadUrl({ pkg, abi: process.argv[1], runtime: "node", platform: "linux", arch: process.argv[2], libc: "", "tag-prefix": "v" });
    console.log(require("path").basename(u.cachedPrebuild(url)));' "$abi" "$arch")
  mkdir -p "$npm_ctx/cache/_prebuilds"
  tar -C "$npm_ctx/deps/node_modules/better-sqlite3" -czf "$npm_ctx/cache/_prebuilds/$prebuild" build/Release/better_sqlite3.node
  printf 'offline=true\nregistry=%s\n' "$(npm config get registry)" > "$npm_ctx/npmrc"
  rm -rf "$npm_ctx/deps" "$npm_ctx/headers" "$npm_ctx"/npm-*.tgz "$npm_ctx/cache/_logs"
  printf '%s\n' 'FROM kiln-base-node:bookworm' 'COPY npm /usr/local/lib/node_modules/npm' 'COPY cache /root/.npm' \
    'COPY npmrc /usr/local/etc/npmrc' \
    'RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx' \
    > "$npm_ctx/Dockerfile"
  docker build -q -t kiln-base-npm:bookworm "$npm_ctx" >/dev/null
  rm -rf "$npm_ctx"
fi
if $deploy_base && ! docker image inspect kiln-base-deploy:bookworm >/dev/null 2>&1; then
  # One Debian base for both of deploy/'s service images (postgres.Dockerfile, lb.Dockerfile), which also
  # build FROM the official postgres and haproxy images when a registry is in reach.
  command -v debootstrap >/dev/null || { echo "--deploy-base needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
  deploy_rootfs=$(mktemp -d)
  trap 'rm -rf "${rootfs:-}" "$deploy_rootfs"' EXIT
  echo "building kiln-base-deploy:bookworm with debootstrap (a minute or two)"
  debootstrap --variant=minbase --include=postgresql,haproxy,ca-certificates bookworm "$deploy_rootfs" >/dev/null
  # The package made a cluster (15/main) for a systemd host; the image initialises its own in PGDATA.
  rm -rf "$deploy_rootfs"/etc/postgresql/* "$deploy_rootfs"/var/lib/postgresql/* \
    "$deploy_rootfs"/var/cache/apt/archives/*.deb "$deploy_rootfs"/var/lib/apt/lists/*
  tar -C "$deploy_rootfs" -c . | docker import - kiln-base-deploy:bookworm >/dev/null
  rm -rf "$deploy_rootfs"
fi
if $air_gapped; then
  python_base=(--build-arg "BASE=$DEBIAN_BASE")
  node_base=(--build-arg "BASE=kiln-base-node:bookworm")
fi

docker build -q -f sandbox-images/python.Dockerfile "${python_base[@]}" -t "$PYTHON_IMAGE" . >/dev/null
echo "built $PYTHON_IMAGE"
docker build -q -f sandbox-images/node.Dockerfile "${node_base[@]}" -t "$NODE_IMAGE" . >/dev/null
echo "built $NODE_IMAGE"

# Build images for custom runtimes (sandbox-images/build.Dockerfile): each sandbox image plus its
# package manager. Python: the official image has pip; Debian's Python has none, so its wheel is
# taken from Debian's python3-pip-whl (pip runs straight from its wheel). Node: npm from the registry.
tools=$(mktemp -d)
mkdir -p "$tools/python/tools" "$tools/node/tools/npm"
# (session.py beside it: the harness imports it from its own directory, should a build box ever be a session)
cp runtimes/python/harness.py runtimes/python/session.py "$tools/python/tools/"
cp runtimes/python/harness.py runtimes/python/session.py "$tools/node/tools/"
if $air_gapped; then
  # (the package lists may be missing on a fresh machine: fetched once then)
  (cd "$tools" && { apt-get download python3-pip-whl >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get download python3-pip-whl >/dev/null 2>&1; }; } \
    && dpkg-deb -x python3-pip-whl_*.deb deb) \
    || { echo "--air-gapped needs Debian's python3-pip-whl for Python builds (apt-get download python3-pip-whl failed)" >&2; exit 1; }
  cp "$tools"/deb/usr/share/python-wheels/pip-*.whl "$tools/python/tools/pip.whl"
fi
(cd "$tools" && tar xzf "$(npm pack --silent "npm@$NPM_VERSION")" -C node/tools/npm --strip-components=1)
docker build -q -f sandbox-images/build.Dockerfile --build-arg "RUNTIME=$PYTHON_IMAGE" -t "$PYTHON_BUILD_IMAGE" "$tools/python" >/dev/null
echo "built $PYTHON_BUILD_IMAGE"
docker build -q -f sandbox-images/build.Dockerfile --build-arg "RUNTIME=$NODE_IMAGE" -t "$NODE_BUILD_IMAGE" "$tools/node" >/dev/null
echo "built $NODE_BUILD_IMAGE"
rm -rf "$tools"
