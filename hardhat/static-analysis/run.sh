#!/usr/bin/env bash
# Static analysis of contracts/: slither (PyPI slither-analyzer, in its own virtual environment because it
# pins web3 7) with npm's solc-js behind a solc-compatible wrapper. Fails on any medium or high finding not
# triaged in TRIAGE.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/.ci/node-env.sh"
venv="${QLEDGER_SLITHER_VENV:-$HOME/.cache/qledger/slither-venv}" # made by .ci/install.sh
cd "$here/.."
"$venv/bin/slither" static-analysis/Contracts.sol --config-file static-analysis/slither.config.json --fail-medium
