import { fileURLToPath } from "node:url";

import hardhatNetworkHelpers from "@nomicfoundation/hardhat-network-helpers";
import hardhatNodeTestRunner from "@nomicfoundation/hardhat-node-test-runner";
import hardhatViem from "@nomicfoundation/hardhat-viem";
import hardhatViemAssertions from "@nomicfoundation/hardhat-viem-assertions";
import { configVariable, defineConfig } from "hardhat/config";

// Compile offline with npm's solc-js: nothing may download a compiler on these machines.
const soljson = fileURLToPath(import.meta.resolve("solc/soljson.js"));

export default defineConfig({
  plugins: [hardhatViem, hardhatViemAssertions, hardhatNodeTestRunner, hardhatNetworkHelpers],
  solidity: {
    version: "0.8.37",
    path: soljson,
    settings: {
      evmVersion: "cancun",
      optimizer: { enabled: true, runs: 1000000 },
      viaIR: true,
    },
  },
  paths: {
    sources: "contracts",
    tests: { solidity: "test", nodejs: "test" },
  },
  test: {
    solidity: {
      fuzz: { runs: 256 },
      invariant: { runs: 64, depth: 32 },
    },
  },
  networks: {
    default: { type: "edr-simulated", chainType: "l1", hardfork: "cancun" },
    // Any JSON-RPC node: anvil or a Hardhat node in development, a Besu QBFT validator in production.
    // The deployer key comes from the environment or Hardhat's keystore, never from the repository.
    rpc: {
      type: "http",
      chainType: "l1",
      url: configVariable("QLEDGER_RPC_URL"),
      accounts: [configVariable("QLEDGER_DEPLOYER_KEY")],
    },
  },
});
