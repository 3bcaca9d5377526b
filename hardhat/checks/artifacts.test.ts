// The ABI and bytecode committed for the Python side must be what contracts/ compiles to now.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";

import hre from "hardhat";

import { ARTIFACTS_DIR, currentArtifacts, serialise } from "../scripts/contract-artifacts.js";

describe("committed contract artifacts", () => {
  it("match a fresh compilation (run scripts/export-artifacts.ts after changing a contract)", async () => {
    for (const artifact of await currentArtifacts(hre)) {
      const file = path.join(ARTIFACTS_DIR, `${artifact.contractName}.json`);
      const committed = await readFile(file, "utf8").catch(() => "");
      assert.ok(committed, `${file} is missing`);
      assert.equal(committed, serialise(artifact), `${file} is stale`);
    }
  });
});
