#!/usr/bin/env bash
# The project's test command (README): contract tests with coverage, gas budgets, committed-artifact and
# deployment checks, static analysis, the Python suite, then the network fault tests in a process of their own.
# Expects .ci/install.sh to have run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/.ci/node-env.sh"

echo "== contracts: unit, fuzz and invariant tests with line coverage (threshold 95%)"
cd "$root/hardhat"
npx hardhat test --coverage 2> >(grep -v -e '^Warning' -e '^ *|' -e '^ *-->' -e '^$' >&2)
node scripts/check-coverage.mjs 95

echo "== contracts: gas budgets (with gas report), committed ABI/bytecode, deployment on anvil"
npx hardhat test nodejs checks/*.test.ts --gas-stats

echo "== contracts: static analysis (slither)"
bash static-analysis/run.sh

echo "== python: lint, types, tests"
cd "$root"
# pytest's fault handler ends with its session; this one also prints the stack of a crash at interpreter exit.
export PYTHONFAULTHANDLER=1
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest --ignore=tests/network

echo "== network: a 4-member consortium (geth clique signers, Kubo nodes, IPFS Cluster peers) and its fault tests"
# In a process of their own: a dozen daemons per network, started after nothing else in the process has run.
.venv/bin/pytest tests/network
