// The contract ABIs and bytecode the Python side needs, as committed in ledger_service/chain/artifacts:
// running qledger must need no Solidity compiler.
import path from "node:path";
import { fileURLToPath } from "node:url";

import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";

export const DEPLOYED_CONTRACTS = ["ConsortiumRegistry", "QualityLedger", "RecallRegistry"] as const;

export const ARTIFACTS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../ledger_service/chain/artifacts",
);

export type ExportedArtifact = {
  contractName: string;
  sourceName: string;
  abi: unknown[];
  bytecode: string;
  deployedBytecode: string;
};

/** The artifact of each deployed contract as compiled now from contracts/. */
export async function currentArtifacts(hre: HardhatRuntimeEnvironment): Promise<ExportedArtifact[]> {
  return Promise.all(
    DEPLOYED_CONTRACTS.map(async (name) => {
      const a = await hre.artifacts.readArtifact(name);
      return {
        contractName: a.contractName,
        sourceName: a.sourceName,
        abi: [...a.abi],
        bytecode: a.bytecode,
        deployedBytecode: a.deployedBytecode,
      };
    }),
  );
}

export function serialise(artifact: ExportedArtifact): string {
  return `${JSON.stringify(artifact, null, 2)}\n`;
}
