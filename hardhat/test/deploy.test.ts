import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";

import { network } from "hardhat";

import { type ConsortiumConfig, constructorArgs } from "../scripts/consortium-config.js";

const { viem } = await network.create();

describe("deployment from a consortium configuration", () => {
  it("deploys the local consortium with its founders, roles and accreditation", async () => {
    const config = JSON.parse(await readFile("../consortium/networks/local.json", "utf8")) as ConsortiumConfig;
    const registry = await viem.deployContract("ConsortiumRegistry", constructorArgs(config));
    assert.equal(await registry.read.activeMemberCount(), BigInt(config.founders.length));
    const lab = config.founders[0].account as `0x${string}`;
    assert.equal(await registry.read.isAccredited([lab, 2]), true);
    assert.equal(await registry.read.isAccredited([lab, 1]), false);
    assert.equal(await registry.read.hasRoles(["0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65", 4]), true);
    // The reference body: LAB | REFERENCE_BODY (32), the root of traceability.
    assert.equal(await registry.read.hasRoles(["0xa0Ee7A142d267C1f36714E4a8F75612F20a79720", 1 | 32]), true);
    assert.equal(await registry.read.hasRoles(["0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", 32]), false);
  });

  it("refuses a malformed configuration, naming the field", () => {
    const base: ConsortiumConfig = { quorumBps: 5000, strikeThreshold: 3, votingPeriodSeconds: 60, recallConfirmation: "RegulatorAlone", founders: [] };
    assert.throws(() => constructorArgs(base), /founders: at least one/);
    const founder = { account: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", organisationId: "X", roles: ["LAB"] };
    assert.throws(() => constructorArgs({ ...base, founders: [{ ...founder, roles: ["KING"] }] }), /founders\[0\]\.roles: unknown role KING/);
    assert.throws(() => constructorArgs({ ...base, founders: [{ ...founder, account: "0x12" }] }), /founders\[0\]\.account/);
    assert.throws(
      () => constructorArgs({ ...base, founders: [{ ...founder, accreditation: { body: "CNAS", number: "1", scopeDigest: `0x${"00".repeat(32)}`, recordTypes: ["pizza"], validUntil: "2030-01-01T00:00:00Z" } }] }),
      /recordTypes: unknown record type pizza/,
    );
    assert.throws(() => constructorArgs({ ...base, founders: [founder], recallConfirmation: "Anyone" }), /recallConfirmation/);
  });
});
