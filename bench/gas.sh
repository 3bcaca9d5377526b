#!/usr/bin/env bash
# Gas per anchoring tier beside EAS and OpenAttestation's DocumentStore, on one network in one run.
# Prints the table, rewrites its section of bench/RESULTS.md, exits 1 if a budget of issue #2 is exceeded.
set -euo pipefail
cd "$(dirname "$0")/../hardhat"
source ../.ci/node-env.sh
npx hardhat run scripts/gas-bench.ts
