// The ABI and bytecode committed for the Python side must be what contracts/ compiles to now.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";

import hre from "hardhat";

import { ARTIFACTS_DIR, currentArtifacts, serialise } from "../scripts/contract-artifacts.js";
import { LONDON_ARTIFACTS_DIR, londonArtifacts } from "../scripts/london-artifacts.js";

// PUSH0 (0x5f) is the Shanghai opcode that a London chain rejects; found by walking the code (PUSH data skipped).
function opcodes(code: string): Set<number> {
  const bytes = Buffer.from(code.replace(/^0x/, ""), "hex");
  const seen = new Set<number>();
  for (let i = 0; i < bytes.length; i++) {
    const op = bytes[i];
    seen.add(op);
    if (op >= 0x60 && op <= 0x7f) i += op - 0x5f;
  }
  return seen;
}

describe("committed contract artifacts", () => {
  it("match a fresh compilation (run scripts/export-artifacts.ts after changing a contract)", async () => {
    for (const artifact of await currentArtifacts(hre)) {
      const file = path.join(ARTIFACTS_DIR, `${artifact.contractName}.json`);
      const committed = await readFile(file, "utf8").catch(() => "");
      assert.ok(committed, `${file} is missing`);
      assert.equal(committed, serialise(artifact), `${file} is stale`);
    }
  });

  it("London build (clique chains) matches a fresh compilation and uses no Shanghai or Cancun opcode", async () => {
    const london = await londonArtifacts(hre);
    const cancun = await currentArtifacts(hre);
    assert.deepEqual(
      london.map((a) => a.contractName),
      cancun.map((a) => a.contractName),
    );
    for (const [i, artifact] of london.entries()) {
      const file = path.join(LONDON_ARTIFACTS_DIR, `${artifact.contractName}.json`);
      const committed = await readFile(file, "utf8").catch(() => "");
      assert.ok(committed, `${file} is missing`);
      assert.equal(committed, serialise(artifact), `${file} is stale`);
      assert.deepEqual(artifact.abi, cancun[i].abi, `${artifact.contractName}: the two builds must share one ABI`);
      // The metadata trailer (CBOR, after the code) may hold any byte: only the code before it is walked.
      const code = artifact.deployedBytecode.slice(0, -2 * (2 + parseInt(artifact.deployedBytecode.slice(-4), 16)));
      for (const op of [0x5f, 0x5c, 0x5d, 0x5e, 0x49, 0x4a]) {
        assert.ok(!opcodes(code).has(op), `${artifact.contractName} (london) contains opcode 0x${op.toString(16)}`);
      }
    }
    // The cancun build does use PUSH0: the walk above would see it (the check is not vacuous).
    const ledger = cancun.find((a) => a.contractName === "QualityLedger")!;
    assert.ok(opcodes(ledger.deployedBytecode).has(0x5f));
  });
});
