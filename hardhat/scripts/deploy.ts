// Deploys the consortium contracts to the network given with --network, from a consortium configuration:
//
//   QLEDGER_CONSORTIUM=../consortium/networks/local.json npx hardhat run --network localhost scripts/deploy.ts
//
// Writes the addresses to deployments/<network>-<chainId>.json and prints them.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

import { network } from "hardhat";

import { type ConsortiumConfig, constructorArgs } from "./consortium-config.js";

const configPath = process.env.QLEDGER_CONSORTIUM ?? "../consortium/networks/local.json";
const config = JSON.parse(await readFile(configPath, "utf8")) as ConsortiumConfig;
const { viem, networkName } = await network.create();
const publicClient = await viem.getPublicClient();
const chainId = await publicClient.getChainId();

const registry = await viem.deployContract("ConsortiumRegistry", constructorArgs(config));
const ledger = await viem.deployContract("QualityLedger", [registry.address]);
await publicClient.waitForTransactionReceipt({ hash: await registry.write.bindLedger([ledger.address]) });
const recalls = await viem.deployContract("RecallRegistry", [registry.address]);

const deployment = {
  network: networkName,
  chainId,
  block: Number(await publicClient.getBlockNumber()),
  contracts: { ConsortiumRegistry: registry.address, QualityLedger: ledger.address, RecallRegistry: recalls.address },
  config: path.basename(configPath),
};
const out = path.join("deployments", `${networkName}-${chainId}.json`);
await mkdir("deployments", { recursive: true });
await writeFile(out, `${JSON.stringify(deployment, null, 2)}\n`);
console.log(JSON.stringify(deployment, null, 2));
console.log(`wrote ${out}`);
