// The deploy script against a real JSON-RPC node: anvil (npm), started here on a free loopback port.
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";

import { createPublicClient, getAddress, http } from "viem";

import { DEPLOYED_CONTRACTS } from "../scripts/contract-artifacts.js";

const ANVIL = "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil";
// anvil's first development key: public knowledge, only ever used on throwaway local chains.
const DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe("deploy script on anvil", () => {
  let anvil: ChildProcess;
  let url: string;
  let work: string;
  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    work = await mkdtemp(path.join(tmpdir(), "qledger-anvil-"));
    // --prune-history: without it anvil keeps every state and grows without bound.
    anvil = spawn(ANVIL, ["--host", "127.0.0.1", "--port", String(port), "--prune-history", "--hardfork", "cancun", "--silent"], {
      stdio: "ignore",
      env: { ...process.env, HOME: work },
    });
    const client = createPublicClient({ transport: http(url) });
    for (let i = 0; ; i++) {
      try {
        await client.getChainId();
        break;
      } catch (error) {
        if (i > 100) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });
  after(() => {
    anvil?.kill("SIGTERM");
  });

  it("deploys and binds the three contracts from consortium/networks/local.json", async () => {
    const { stdout } = await promisify(execFile)("npx", ["hardhat", "run", "--network", "rpc", "scripts/deploy.ts"], {
      env: { ...process.env, QLEDGER_RPC_URL: url, QLEDGER_DEPLOYER_KEY: DEV_KEY, QLEDGER_CONSORTIUM: "../consortium/networks/local.json" },
    });
    const file = /wrote (\S+)/.exec(stdout)?.[1];
    assert.ok(file, stdout);
    const deployment = JSON.parse(await readFile(file, "utf8"));
    assert.deepEqual(Object.keys(deployment.contracts).sort(), [...DEPLOYED_CONTRACTS].sort());
    const client = createPublicClient({ transport: http(url) });
    const registryAbi = [
      { type: "function", name: "activeMemberCount", inputs: [], outputs: [{ type: "uint256" }], stateMutability: "view" },
      { type: "function", name: "ledger", inputs: [], outputs: [{ type: "address" }], stateMutability: "view" },
    ] as const;
    const registry = deployment.contracts.ConsortiumRegistry;
    assert.equal(await client.readContract({ address: registry, abi: registryAbi, functionName: "activeMemberCount" }), 9n);
    const bound = await client.readContract({ address: registry, abi: registryAbi, functionName: "ledger" });
    assert.equal(getAddress(bound), getAddress(deployment.contracts.QualityLedger));
  });
});
