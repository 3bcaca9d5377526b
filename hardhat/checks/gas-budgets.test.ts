// The gas budgets of issues #2 and #13, asserted on every run: tier A <= 60,000 gas per record, tier B <= 5,000
// gas per record at 256 records, tier C <= 50,000 gas per root with membership and standing enforced. Figures
// are whole-transaction gas.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { network } from "hardhat";
import type { Hex } from "viem";

import { deployConsortium, id, RecordType } from "../test-utils/fixture.js";
import { root as merkleRoot } from "../test-utils/merkle.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;

async function fixture() {
  return deployConsortium(connection);
}

async function gasOf(hash: Promise<Hex>): Promise<bigint> {
  const publicClient = await viem.getPublicClient();
  const receipt = await publicClient.waitForTransactionReceipt({ hash: await hash });
  return receipt.gasUsed;
}

describe("gas budgets", () => {
  it("tier A anchor costs at most 60,000 gas with every check", async () => {
    const { ledger, wallets, header } = await networkHelpers.loadFixture(fixture);
    const gas = await gasOf(ledger.write.anchor([RecordType.EL_IMAGE, header()], { account: wallets.lab.account }));
    console.log(`    tier A anchor: ${gas} gas`);
    assert.ok(gas <= 60_000n, `tier A anchor used ${gas} gas`);
  });

  it("tier B anchorBatch of 256 records costs at most 5,000 gas per record", async () => {
    const { ledger, wallets, batch } = await networkHelpers.loadFixture(fixture);
    const b = batch(256);
    const gas = await gasOf(
      ledger.write.anchorBatch([RecordType.EL_IMAGE, b.calibrations, b.operatorIds, b.headers], {
        account: wallets.lab.account,
      }),
    );
    console.log(`    tier B anchorBatch(256): ${gas} gas, ${gas / 256n} per record`);
    assert.ok(gas / 256n <= 5_000n, `tier B used ${gas / 256n} gas per record`);
  });

  it("tier C anchorRoot costs at most 50,000 gas per root (under 50 per record at 1,024)", async () => {
    const { ledger, wallets } = await networkHelpers.loadFixture(fixture);
    const ids = Array.from({ length: 1024 }, (_, i) => id(`routine:${i}`));
    const gas = await gasOf(
      ledger.write.anchorRoot([merkleRoot(ids), 1024, id("schema:xrf_analysis/1")], { account: wallets.lab.account }),
    );
    console.log(`    tier C anchorRoot(1024): ${gas} gas, ${Number(gas) / 1024} per record`);
    assert.ok(gas <= 50_000n && gas / 1024n < 50n, `tier C used ${gas} gas`);
  });
});
