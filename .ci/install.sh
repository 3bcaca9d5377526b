#!/usr/bin/env bash
# Installs everything the tests need from the repository's own files: Node 22 and the Hardhat project
# (npm), the Python package with its dev tools (PyPI), slither in its own environment.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/.ci/install-node.sh"
if [ ! -x "$root/.venv/bin/python" ]; then
  python3 -m venv "$root/.venv"
fi
"$root/.venv/bin/pip" install --quiet --disable-pip-version-check -e "$root[dev]"
if [ ! -x "$root/.venv-slither/bin/slither" ]; then
  python3 -m venv "$root/.venv-slither"
  "$root/.venv-slither/bin/pip" install --quiet --disable-pip-version-check slither-analyzer==0.11.6
fi
