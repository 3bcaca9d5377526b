#!/usr/bin/env bash
# Installs everything the tests need from the repository's own files: Node 22 and the Hardhat project
# (npm), the Python package with its dev tools (PyPI), slither in its own environment.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/.ci/install-node.sh"
# PostgreSQL server binaries for the index tests (Debian's; the base image usually has them).
if ! command -v initdb >/dev/null && [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi
# Reports and certificates: HarfBuzz subsetting for WeasyPrint (28x faster with it), pdftotext and pdftoppm to
# read and look at rendered pages. The fonts ship inside the package (esg_reports/fonts/): no font is installed.
need=()
for pkg in libharfbuzz-subset0 poppler-utils; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The API docs pages' browser test: Debian's chromium, driven by Playwright (which must not download its own).
if ! dpkg -s chromium >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -x "$root/.venv/bin/python" ]; then
  python3 -m venv "$root/.venv"
fi
"$root/.venv/bin/pip" install --quiet --disable-pip-version-check -e "$root[dev]"
# slither pins web3 7: its own environment, outside the work tree (so that no scan of the tree reads it).
slither_venv="${QLEDGER_SLITHER_VENV:-$HOME/.cache/qledger/slither-venv}"
if [ ! -x "$slither_venv/bin/slither" ]; then
  python3 -m venv "$slither_venv"
  "$slither_venv/bin/pip" install --quiet --disable-pip-version-check slither-analyzer==0.11.6
fi
# The consortium network's engines (geth, Kubo, IPFS Cluster), built from the Go module proxy once per machine
# into ~/.cache/qledger/engines: every test that needs an IPFS node runs Kubo.
bash "$root/.ci/install-engines.sh"
