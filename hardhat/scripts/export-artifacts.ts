// Writes the committed ABI + bytecode files after a contract change: `npx hardhat run scripts/export-artifacts.ts`.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

import hre from "hardhat";

import { ARTIFACTS_DIR, currentArtifacts, serialise } from "./contract-artifacts.js";

await hre.tasks.getTask("build").run({});
await mkdir(ARTIFACTS_DIR, { recursive: true });
for (const artifact of await currentArtifacts(hre)) {
  const file = path.join(ARTIFACTS_DIR, `${artifact.contractName}.json`);
  await writeFile(file, serialise(artifact));
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}
