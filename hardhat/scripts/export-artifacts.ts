// Writes the committed ABI + bytecode files after a contract change: `npx hardhat run scripts/export-artifacts.ts`.
// Two builds: Hardhat's (cancun, in artifacts/) and the London one for clique chains (in artifacts/london/).
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

import hre from "hardhat";

import { ARTIFACTS_DIR, currentArtifacts, serialise } from "./contract-artifacts.js";
import { LONDON_ARTIFACTS_DIR, londonArtifacts } from "./london-artifacts.js";

await hre.tasks.getTask("build").run({});
await mkdir(ARTIFACTS_DIR, { recursive: true });
for (const artifact of await currentArtifacts(hre)) {
  const file = path.join(ARTIFACTS_DIR, `${artifact.contractName}.json`);
  await writeFile(file, serialise(artifact));
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}
await mkdir(LONDON_ARTIFACTS_DIR, { recursive: true });
for (const artifact of await londonArtifacts(hre)) {
  const file = path.join(LONDON_ARTIFACTS_DIR, `${artifact.contractName}.json`);
  await writeFile(file, serialise(artifact));
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}
