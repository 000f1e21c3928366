#!/usr/bin/env bash
# Checks deploy/kubernetes without a cluster: exits non-zero if any manifest is invalid.
#   deploy/kubernetes/validate.sh [MORE.yaml...]
#
# 1. Renders each variant with kustomize, as `kubectl apply -k` would (kustomize is built into kubectl,
#    1.27+ for the `labels` field; it needs no cluster). `kubectl apply --dry-run=client` cannot be used:
#    even a client-side dry run asks a server for its API groups.
# 2. Checks every rendered object, plus secrets.example.yaml and any file given, with validate/validate.mjs:
#    the Kubernetes OpenAPI schema per kind, unknown fields, and what kiln needs (see that file).
#    Its tools (kubernetes-models, typescript, yaml; pinned in validate/package-lock.json) are installed
#    from the npm registry once, into a cache outside the work tree.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kubectl=${KUBECTL:-kubectl}

command -v "$kubectl" >/dev/null || { echo "validate.sh needs kubectl (1.27+) for its built-in kustomize" >&2; exit 2; }
command -v node >/dev/null && command -v npm >/dev/null || { echo "validate.sh needs node and npm" >&2; exit 2; }

# The tools, installed again only when the lockfile changes.
cache=${KILN_K8S_VALIDATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln-k8s-validate}
lock_sum=$(sha256sum "$here/validate/package-lock.json" | cut -c1-16)
tools="$cache/$lock_sum"
if [ ! -d "$tools/node_modules" ]; then
  rm -rf "$tools" && mkdir -p "$tools"
  cp "$here/validate/package.json" "$here/validate/package-lock.json" "$tools/"
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || { rm -rf "$tools"; echo "validate.sh: npm ci failed" >&2; exit 2; }
fi
cp "$here/validate/validate.mjs" "$tools/"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
rendered=()
for variant in . overlays/node-engine; do
  name=$(echo "$variant" | tr '/.' '-_')
  # No KUBECONFIG is read, and no server is asked.
  if ! KUBECONFIG=/dev/null "$kubectl" kustomize "$here/$variant" > "$out/$name.yaml"; then
    echo "FAIL kustomize $variant" >&2
    exit 1
  fi
  rendered+=("$out/$name.yaml")
done

node "$tools/validate.mjs" "${rendered[@]}" "$here/secrets.example.yaml" "$@"
