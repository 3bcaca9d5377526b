#!/usr/bin/env bash
# Builds the consortium network's engines from the Go module proxy, once per machine, into a cache outside the
# work tree keyed by version (docs/architecture.md, "Engines"): go-ethereum v1.13.15 (the last geth whose clique
# engine seals), Kubo v0.39.0 and IPFS Cluster v1.1.6. A binary already in the cache is not built again.
# QLEDGER_ENGINES overrides the cache root (~/.cache/qledger/engines).
set -euo pipefail
engines="${QLEDGER_ENGINES:-$HOME/.cache/qledger/engines}"
# Go from its official tarball's place, else Debian's golang package (installed here if neither is present).
if [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
elif ! command -v go >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang >/dev/null
fi
# Go >= 1.21 fetches the Go release each engine is built with (GOTOOLCHAIN); Debian bookworm's golang is 1.19.
minor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
if [ "${minor:-0}" -lt 21 ]; then
  echo "engines: $(go version) is too old (need Go >= 1.21 in /usr/local/go/bin or on PATH)" >&2
  exit 1
fi
echo "engines: $(go version) into $engines"

build() {  # build TOOLCHAIN DIR BINARY... -- go install arguments (TOOLCHAIN: a Go release, or "local")
  local toolchain="$1"; shift
  local dir="$engines/$1"; shift
  local missing=0 bins=()
  while [ "$1" != "--" ]; do bins+=("$1"); shift; done
  shift
  for bin in "${bins[@]}"; do [ -x "$dir/bin/$bin" ] || missing=1; done
  if [ "$missing" = 0 ]; then
    echo "engines: $(basename "$dir") cached"
    return
  fi
  mkdir -p "$dir/bin"
  local start=$SECONDS
  GOTOOLCHAIN="$toolchain" GOBIN="$dir/bin" go install "$@"
  echo "engines: built $(basename "$dir") in $(( SECONDS - start )) s"
}

# geth 1.13's fjl/memsize dependency needs -checklinkname=0 to link with Go >= 1.23.
build local geth-v1.13.15 geth -- -ldflags=-checklinkname=0 github.com/ethereum/go-ethereum/cmd/geth@v1.13.15
# Kubo 0.39's cockroachdb/swiss (under pebble) builds only with Go < 1.26 ("undefined: hashFn" on 1.26): its
# own Go release, which the go command fetches from the Go module proxy as the module golang.org/toolchain.
build go1.25.5 kubo-v0.39.0 ipfs -- github.com/ipfs/kubo/cmd/ipfs@v0.39.0
# IPFS Cluster 1.1.6 declares go 1.26. `go install pkg@version` asks the proxy for the module's version list
# (its deprecation check), which the proxy here refuses for this module (403): the module's own source is
# downloaded at that version and its commands built inside it, as its main module (its go.sum pins the rest).
build_in_module() {  # build_in_module TOOLCHAIN DIR MODULE@VERSION PACKAGE...
  local toolchain="$1" dir="$engines/$2" module="$3"; shift 3
  local bin missing=0
  for pkg in "$@"; do bin="$(basename "$pkg")"; [ -x "$dir/bin/$bin" ] || missing=1; done
  if [ "$missing" = 0 ]; then
    echo "engines: $(basename "$dir") cached"
    return
  fi
  local start=$SECONDS src work
  src="$(GOTOOLCHAIN="$toolchain" GOFLAGS=-mod=mod go mod download -json "$module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$src" ] || { echo "engines: could not download $module" >&2; return 1; }
  work="$(mktemp -d "${TMPDIR:-/tmp}/qledger-engine-XXXXXX")"
  cp -r "$src/." "$work/" && chmod -R u+w "$work"
  mkdir -p "$dir/bin"
  (cd "$work" && GOTOOLCHAIN="$toolchain" go build -o "$dir/bin/" "$@")
  rm -rf "$work"
  echo "engines: built $(basename "$dir") in $(( SECONDS - start )) s"
}
build_in_module go1.26.8 ipfs-cluster-v1.1.6 github.com/ipfs-cluster/ipfs-cluster@v1.1.6 \
  ./cmd/ipfs-cluster-service ./cmd/ipfs-cluster-ctl
