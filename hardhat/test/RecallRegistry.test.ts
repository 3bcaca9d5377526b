import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { network } from "hardhat";

import { admitByVote, deployConsortium, id, noAccreditation, RecallConfirmation, Roles, ZERO } from "../test-utils/fixture.js";
import { root as merkleRoot } from "../test-utils/merkle.js";
import { freshAccount } from "../test-utils/raw.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;

const ScopeKind = { Lot: 0, Product: 1, Records: 2 } as const;
const RecallStatus = { None: 0, Proposed: 1, Confirmed: 2, Closed: 3 } as const;

async function regulatorAlone() {
  return deployConsortium(connection);
}

async function memberQuorum() {
  return deployConsortium(connection, { recallConfirmation: RecallConfirmation.MemberQuorum });
}

describe("RecallRegistry", () => {
  it("opens a recall confirmed at once when the regulator's word suffices", async () => {
    const { recalls, registry, wallets } = await networkHelpers.loadFixture(regulatorAlone);
    assert.equal(await recalls.read.version(), "0.1.0");
    assert.equal((await recalls.read.consortium()).toLowerCase(), registry.address.toLowerCase());
    const lot = id("lot:2026-11-A");
    const tx = recalls.write.openRecall([ScopeKind.Lot, lot, id("notice")], { account: wallets.regulator.account });
    await viem.assertions.emitWithArgs(tx, recalls, "RecallOpened", [1n, wallets.regulator.account.address, ScopeKind.Lot, lot, id("notice")]);
    const r = await recalls.read.recallOf([1n]);
    assert.equal(r.status, RecallStatus.Confirmed);
    assert.equal(r.scope, lot);
    assert.equal(await recalls.read.isInForce([1n]), true);
    assert.equal(await recalls.read.recallCount(), 1n);
  });

  it("refuses a recall from a non-regulator or over an empty scope", async () => {
    const { recalls, wallets } = await networkHelpers.loadFixture(regulatorAlone);
    for (const w of [wallets.lab, wallets.auditor, wallets.agent1, wallets.outsider]) {
      await viem.assertions.revertWithCustomErrorWithArgs(recalls.write.openRecall([ScopeKind.Product, id("gtin"), ZERO], { account: w.account }), recalls, "RecallNotRegulator", [w.account.address]);
    }
    await viem.assertions.revertWithCustomError(recalls.write.openRecall([ScopeKind.Records, ZERO, ZERO], { account: wallets.regulator.account }), recalls, "RecallZeroScope");
  });

  it("confirms a recall when the member quorum approves, and not before", async () => {
    const f = await networkHelpers.loadFixture(memberQuorum);
    const { recalls, wallets } = f;
    const records = merkleRoot([id("r1"), id("r2"), id("r3")]);
    await recalls.write.openRecall([ScopeKind.Records, records, id("notice")], { account: wallets.regulator.account });
    assert.equal((await recalls.read.recallOf([1n])).status, RecallStatus.Proposed);
    assert.equal(await recalls.read.requiredApprovals([1n]), 5n);
    assert.equal(await recalls.read.hasApproved([1n, wallets.regulator.account.address]), true);
    await viem.assertions.revertWithCustomErrorWithArgs(recalls.write.postRelease([1n, id("share"), "bafy-share"], { account: wallets.agent1.account }), recalls, "RecallNotConfirmed", [1n]);
    await viem.assertions.revertWithCustomErrorWithArgs(recalls.write.approveRecall([1n], { account: wallets.regulator.account }), recalls, "RecallAlreadyApproved", [1n, wallets.regulator.account.address]);
    await viem.assertions.revertWithCustomErrorWithArgs(recalls.write.approveRecall([1n], { account: wallets.outsider.account }), recalls, "RecallNotMember", [wallets.outsider.account.address]);
    const late = await freshAccount(connection);
    await admitByVote(f, late.address, Roles.MANUFACTURER, noAccreditation);
    await networkHelpers.impersonateAccount(late.address);
    const lateWallet = await viem.getWalletClient(late.address);
    await viem.assertions.revertWithCustomErrorWithArgs(recalls.write.approveRecall([1n], { account: lateWallet.account }), recalls, "RecallApproverNotEligible", [1n, late.address]);
    await recalls.write.approveRecall([1n], { account: wallets.auditor.account });
    await recalls.write.approveRecall([1n], { account: wallets.manufacturer.account });
    await recalls.write.approveRecall([1n], { account: wallets.agent1.account });
    await viem.assertions.emitWithArgs(recalls.write.approveRecall([1n], { account: wallets.lab.account }), recalls, "RecallConfirmed", [1n]);
    assert.equal((await recalls.read.recallOf([1n])).approvals, 5);
    await viem.assertions.revertWithCustomErrorWithArgs(recalls.write.approveRecall([1n], { account: wallets.calLab.account }), recalls, "RecallAlreadyConfirmed", [1n]);
    await viem.assertions.revertWithCustomErrorWithArgs(recalls.write.approveRecall([7n], { account: wallets.calLab.account }), recalls, "RecallUnknown", [7n]);
  });

  it("records escrow agents' releases for a confirmed recall, each once, as events", async () => {
    const { recalls, wallets } = await networkHelpers.loadFixture(regulatorAlone);
    await recalls.write.openRecall([ScopeKind.Lot, id("lot"), ZERO], { account: wallets.regulator.account });
    const digest = id("release-1");
    await viem.assertions.emitWithArgs(recalls.write.postRelease([1n, digest, "bafkrei-release-1"], { account: wallets.agent1.account }), recalls, "KeyShareReleased", [1n, wallets.agent1.account.address, wallets.regulator.account.address, digest, "bafkrei-release-1"]);
    assert.equal(await recalls.read.isReleased([1n, wallets.agent1.account.address, digest]), true);
    await viem.assertions.revertWithCustomErrorWithArgs(recalls.write.postRelease([1n, digest, "bafkrei-release-1"], { account: wallets.agent1.account }), recalls, "RecallReleaseExists", [1n, wallets.agent1.account.address, digest]);
    await recalls.write.postRelease([1n, digest, "bafkrei-release-1"], { account: wallets.agent2.account });
    assert.equal((await recalls.read.recallOf([1n])).releases, 2);
    await viem.assertions.revertWithCustomError(recalls.write.postRelease([1n, ZERO, "x"], { account: wallets.agent3.account }), recalls, "RecallEmptyRelease");
    await viem.assertions.revertWithCustomError(recalls.write.postRelease([1n, digest, ""], { account: wallets.agent3.account }), recalls, "RecallEmptyRelease");
    await viem.assertions.revertWithCustomErrorWithArgs(recalls.write.postRelease([9n, digest, "x"], { account: wallets.agent3.account }), recalls, "RecallUnknown", [9n]);
  });

  it("refuses releases from non-agents and for closed recalls", async () => {
    const { recalls, wallets } = await networkHelpers.loadFixture(regulatorAlone);
    await recalls.write.openRecall([ScopeKind.Lot, id("lot"), ZERO], { account: wallets.regulator.account });
    for (const w of [wallets.regulator, wallets.lab, wallets.outsider]) {
      await viem.assertions.revertWithCustomErrorWithArgs(recalls.write.postRelease([1n, id("s"), "cid"], { account: w.account }), recalls, "RecallNotEscrowAgent", [w.account.address]);
    }
    await viem.assertions.revertWithCustomErrorWithArgs(recalls.write.closeRecall([1n, ZERO], { account: wallets.lab.account }), recalls, "RecallUnauthorized", [wallets.lab.account.address, 1n]);
    await viem.assertions.emitWithArgs(recalls.write.closeRecall([1n, id("done")], { account: wallets.regulator.account }), recalls, "RecallClosed", [1n, wallets.regulator.account.address, id("done")]);
    assert.equal(await recalls.read.isInForce([1n]), false);
    await viem.assertions.revertWithCustomErrorWithArgs(recalls.write.postRelease([1n, id("s"), "cid"], { account: wallets.agent1.account }), recalls, "RecallIsClosed", [1n]);
    await viem.assertions.revertWithCustomErrorWithArgs(recalls.write.closeRecall([1n, ZERO], { account: wallets.regulator.account }), recalls, "RecallIsClosed", [1n]);
    await viem.assertions.revertWithCustomErrorWithArgs(recalls.write.approveRecall([1n], { account: wallets.lab.account }), recalls, "RecallIsClosed", [1n]);
  });

  it("refuses releases from an agent suspended by vote", async () => {
    const f = await networkHelpers.loadFixture(regulatorAlone);
    const { recalls, registry, wallets } = f;
    await recalls.write.openRecall([ScopeKind.Lot, id("lot"), ZERO], { account: wallets.regulator.account });
    await registry.write.proposeSuspension([wallets.agent3.account.address, ZERO], { account: wallets.regulator.account });
    const pid = await registry.read.proposalCount();
    for (const w of [wallets.lab, wallets.calLab, wallets.auditor, wallets.manufacturer]) await registry.write.vote([pid], { account: w.account });
    await viem.assertions.revertWithCustomErrorWithArgs(recalls.write.postRelease([1n, id("s"), "cid"], { account: wallets.agent3.account }), recalls, "RecallNotEscrowAgent", [wallets.agent3.account.address]);
  });
});
