import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { network } from "hardhat";
import { getAddress } from "viem";

import {
  accreditation,
  admitByVote,
  DAY,
  deployConsortium,
  id,
  MemberStatus,
  noAccreditation,
  RecallConfirmation,
  RecordType,
  Roles,
  scope,
  text32,
  ZERO,
} from "../test-utils/fixture.js";
import { freshAccount } from "../test-utils/raw.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;

async function fixture() {
  return deployConsortium(connection);
}

async function latestProposal(f: Awaited<ReturnType<typeof fixture>>) {
  return f.registry.read.proposalCount();
}

/** Votes with founders other than the proposer until the proposal executes. */
async function carry(f: Awaited<ReturnType<typeof fixture>>, proposalId: bigint) {
  const w = f.wallets;
  for (const voter of [w.calLab, w.manufacturer, w.regulator, w.auditor, w.agent1, w.agent2, w.agent3, w.nmi]) {
    const p = await f.registry.read.proposalOf([proposalId]);
    if (p.executed) return;
    if (await f.registry.read.hasVoted([proposalId, voter.account.address])) continue;
    await f.registry.write.vote([proposalId], { account: voter.account });
  }
}

describe("ConsortiumRegistry", () => {
  it("admits the founders with their roles and accreditation", async () => {
    const { registry, wallets, now } = await networkHelpers.loadFixture(fixture);
    assert.equal(await registry.read.version(), "0.1.0");
    assert.equal(await registry.read.activeMemberCount(), 9n);
    assert.equal(await registry.read.quorumBps(), 5000n);
    assert.equal(await registry.read.strikeThreshold(), 3n);
    assert.equal(await registry.read.votingPeriod(), 7n * DAY);
    assert.equal(await registry.read.recallConfirmation(), RecallConfirmation.RegulatorAlone);
    const lab = await registry.read.memberOf([wallets.lab.account.address]);
    assert.equal(lab.status, MemberStatus.Active);
    assert.equal(lab.roles, Roles.LAB);
    assert.equal(lab.recordTypeScope, scope(2, 3, 4, 5, 6));
    assert.equal(BigInt(lab.accreditationValidUntil), now + 365n * DAY);
    const acc = await registry.read.accreditationOf([wallets.lab.account.address]);
    assert.equal(acc.body, text32("CNAS"));
    assert.equal(await registry.read.organisationOf([wallets.lab.account.address]), text32("LAB-1"));
    assert.equal(await registry.read.isAccredited([wallets.lab.account.address, RecordType.EL_IMAGE]), true);
    assert.equal(await registry.read.isAccredited([wallets.lab.account.address, RecordType.CALIBRATION_CERTIFICATE]), false);
    assert.equal(await registry.read.isAccredited([wallets.lab.account.address, 200]), false);
    assert.equal(await registry.read.isAccredited([wallets.regulator.account.address, RecordType.EL_IMAGE]), false);
    assert.equal(await registry.read.hasRoles([wallets.regulator.account.address, Roles.REGULATOR]), true);
    assert.equal(await registry.read.hasRoles([wallets.regulator.account.address, Roles.REGULATOR | Roles.AUDITOR]), false);
    assert.equal(await registry.read.isActive([wallets.outsider.account.address]), false);
    // The reference body: a lab that is also a root of traceability.
    const nmi = await registry.read.memberOf([wallets.nmi.account.address]);
    assert.equal(nmi.roles, Roles.LAB | Roles.REFERENCE_BODY);
    assert.equal(await registry.read.hasRoles([wallets.nmi.account.address, Roles.REFERENCE_BODY]), true);
    assert.equal(await registry.read.hasRoles([wallets.calLab.account.address, Roles.REFERENCE_BODY]), false);
  });

  it("refuses a deployment with no founder, a bad quorum or a duplicated founder", async () => {
    const [a] = await viem.getWalletClients();
    const founder = { account: a.account.address, organisationId: text32("X"), roles: Roles.LAB, accreditation: noAccreditation };
    await assert.rejects(viem.deployContract("ConsortiumRegistry", [[], 5000n, 3n, DAY, 0]));
    await assert.rejects(viem.deployContract("ConsortiumRegistry", [[founder], 0n, 3n, DAY, 0]));
    await assert.rejects(viem.deployContract("ConsortiumRegistry", [[founder], 10_001n, 3n, DAY, 0]));
    await assert.rejects(viem.deployContract("ConsortiumRegistry", [[founder, founder], 5000n, 3n, DAY, 0]));
    await assert.rejects(viem.deployContract("ConsortiumRegistry", [[founder], 5000n, 2n ** 32n, DAY, 0]), /ConsortiumInvalidStrikeThreshold/);
  });

  describe("governance by vote", () => {
    it("admits a member once the quorum approves, and not before", async () => {
      const f = await networkHelpers.loadFixture(fixture);
      const { registry, wallets } = f;
      const newcomer = await freshAccount(connection);
      const acc = accreditation([RecordType.XRF_ANALYSIS], f.now + 100n * DAY, "CNAS L0500");
      await viem.assertions.emit(
        registry.write.proposeAdmission([newcomer.address, text32("LAB-5"), Roles.LAB, acc], { account: wallets.lab.account }),
        registry,
        "ProposalCreated",
      );
      const pid = await latestProposal(f);
      assert.equal(await registry.read.requiredVotes([pid]), 5n);
      await registry.write.vote([pid], { account: wallets.calLab.account });
      await registry.write.vote([pid], { account: wallets.manufacturer.account });
      await registry.write.vote([pid], { account: wallets.auditor.account });
      assert.equal((await registry.read.memberOf([newcomer.address])).status, MemberStatus.None);
      await viem.assertions.emitWithArgs(registry.write.vote([pid], { account: wallets.regulator.account }), registry, "MemberAdmitted", [newcomer.address, text32("LAB-5"), Roles.LAB]);
      const m = await registry.read.memberOf([newcomer.address]);
      assert.equal(m.status, MemberStatus.Active);
      assert.equal(m.recordTypeScope, scope(RecordType.XRF_ANALYSIS));
      assert.equal((await registry.read.proposalOf([pid])).executed, true);
      assert.equal(await registry.read.activeMemberCount(), 10n);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.vote([pid], { account: wallets.agent1.account }), registry, "ConsortiumProposalExecuted", [pid]);
    });

    it("refuses votes from outsiders, twice from one member, after the deadline, and from later members", async () => {
      const f = await networkHelpers.loadFixture(fixture);
      const { registry, wallets } = f;
      await registry.write.proposeQuorum([6000n], { account: wallets.lab.account });
      const pid = await latestProposal(f);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.vote([pid], { account: wallets.outsider.account }), registry, "ConsortiumNotActiveMember", [wallets.outsider.account.address]);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.vote([pid], { account: wallets.lab.account }), registry, "ConsortiumAlreadyVoted", [pid, wallets.lab.account.address]);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.vote([999n], { account: wallets.lab.account }), registry, "ConsortiumUnknownProposal", [999n]);
      const late = await freshAccount(connection);
      await admitByVote(f, late.address, Roles.MANUFACTURER, noAccreditation);
      const lateWallet = await viem.getWalletClient(late.address);
      await networkHelpers.impersonateAccount(late.address);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.vote([pid], { account: lateWallet.account }), registry, "ConsortiumVoterNotEligible", [pid, late.address]);
      const deadline = (await registry.read.proposalOf([pid])).deadline;
      await networkHelpers.time.increaseTo(BigInt(deadline) + 1n);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.vote([pid], { account: wallets.auditor.account }), registry, "ConsortiumProposalExpired", [pid, deadline]);
    });

    it("suspends and reinstates a member by vote, clearing its strikes", async () => {
      const f = await networkHelpers.loadFixture(fixture);
      const { registry, ledger, wallets } = f;
      const h = f.header();
      await ledger.write.anchor([RecordType.EL_IMAGE, h], { account: wallets.lab.account });
      await ledger.write.revoke([wallets.lab.account.address, h.recordId, ZERO], { account: wallets.auditor.account });
      await registry.write.proposeSuspension([wallets.lab.account.address, id("fraud")], { account: wallets.auditor.account });
      await carry(f, await latestProposal(f));
      assert.equal((await registry.read.memberOf([wallets.lab.account.address])).status, MemberStatus.Suspended);
      assert.equal(await registry.read.activeMemberCount(), 8n);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.proposeSuspension([wallets.lab.account.address, ZERO], { account: wallets.auditor.account }), registry, "ConsortiumNotActiveMember", [wallets.lab.account.address]);
      await registry.write.proposeQuorum([6000n], { account: wallets.regulator.account });
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.vote([await latestProposal(f)], { account: wallets.lab.account }), registry, "ConsortiumNotActiveMember", [wallets.lab.account.address]);
      await registry.write.proposeReinstatement([wallets.lab.account.address, id("corrective action closed")], { account: wallets.regulator.account });
      await carry(f, await latestProposal(f));
      const m = await registry.read.memberOf([wallets.lab.account.address]);
      assert.equal(m.status, MemberStatus.Active);
      assert.equal(m.strikes, 0);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.proposeReinstatement([wallets.lab.account.address, ZERO], { account: wallets.regulator.account }), registry, "ConsortiumMemberNotSuspended", [wallets.lab.account.address]);
    });

    it("changes the quorum, the strike threshold, the recall policy and an accreditation by vote", async () => {
      const f = await networkHelpers.loadFixture(fixture);
      const { registry, wallets } = f;
      await registry.write.proposeQuorum([7500n], { account: wallets.lab.account });
      await carry(f, await latestProposal(f));
      assert.equal(await registry.read.quorumBps(), 7500n);
      assert.equal(await registry.read.votesNeeded([8n]), 6n);
      await registry.write.proposeStrikeThreshold([5n], { account: wallets.lab.account });
      await carry(f, await latestProposal(f));
      assert.equal(await registry.read.strikeThreshold(), 5n);
      await registry.write.proposeRecallConfirmation([RecallConfirmation.MemberQuorum], { account: wallets.regulator.account });
      await carry(f, await latestProposal(f));
      assert.equal(await registry.read.recallConfirmation(), RecallConfirmation.MemberQuorum);
      const renewed = accreditation([RecordType.EL_IMAGE], f.now + 900n * DAY, "CNAS L0001");
      await registry.write.proposeAccreditation([wallets.lab.account.address, renewed], { account: wallets.auditor.account });
      await carry(f, await latestProposal(f));
      const m = await registry.read.memberOf([wallets.lab.account.address]);
      assert.equal(m.recordTypeScope, scope(RecordType.EL_IMAGE));
      assert.equal(BigInt(m.accreditationValidUntil), f.now + 900n * DAY);
      await registry.write.proposeAccreditation([wallets.lab.account.address, noAccreditation], { account: wallets.auditor.account });
      await carry(f, await latestProposal(f));
      assert.equal(await registry.read.isAccredited([wallets.lab.account.address, RecordType.EL_IMAGE]), false);
    });

    it("re-checks a proposal when it executes: a member suspended twice, or reinstated twice, refuses the last vote", async () => {
      const f = await networkHelpers.loadFixture(fixture);
      const { registry, wallets } = f;
      const target = wallets.manufacturer.account.address;
      await registry.write.proposeSuspension([target, id("first")], { account: wallets.regulator.account });
      const first = await latestProposal(f);
      await registry.write.proposeSuspension([target, id("second")], { account: wallets.auditor.account });
      const second = await latestProposal(f);
      for (const w of [wallets.lab, wallets.calLab, wallets.agent2, wallets.agent1]) await registry.write.vote([first], { account: w.account });
      assert.equal((await registry.read.memberOf([target])).status, MemberStatus.Suspended);
      for (const w of [wallets.lab, wallets.calLab, wallets.agent2]) await registry.write.vote([second], { account: w.account });
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.vote([second], { account: wallets.agent1.account }), registry, "ConsortiumNotActiveMember", [target]);

      await registry.write.proposeReinstatement([target, id("first")], { account: wallets.regulator.account });
      const r1 = await latestProposal(f);
      await registry.write.proposeReinstatement([target, id("second")], { account: wallets.auditor.account });
      const r2 = await latestProposal(f);
      for (const w of [wallets.lab, wallets.calLab, wallets.agent1]) await registry.write.vote([r1], { account: w.account });
      for (const w of [wallets.lab, wallets.calLab]) await registry.write.vote([r2], { account: w.account });
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.vote([r2], { account: wallets.agent1.account }), registry, "ConsortiumMemberNotSuspended", [target]);
    });

    it("executes at once when one approval is the quorum", async () => {
      const [a, b] = await viem.getWalletClients();
      const registry = await viem.deployContract("ConsortiumRegistry", [
        [{ account: a.account.address, organisationId: text32("SOLO"), roles: Roles.REGULATOR, accreditation: noAccreditation }],
        5000n,
        0n,
        DAY,
        0,
      ]);
      await viem.assertions.emit(registry.write.proposeAdmission([b.account.address, text32("B"), Roles.MANUFACTURER, noAccreditation]), registry, "ProposalExecuted");
      assert.equal(await registry.read.activeMemberCount(), 2n);
    });

    it("refuses malformed proposals", async () => {
      const f = await networkHelpers.loadFixture(fixture);
      const { registry, wallets } = f;
      const lab = wallets.lab.account;
      const x = await freshAccount(connection);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.proposeAdmission([x.address, ZERO, 0, noAccreditation], { account: lab }), registry, "ConsortiumInvalidRoles", [0]);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.proposeAdmission([x.address, ZERO, 64, noAccreditation], { account: lab }), registry, "ConsortiumInvalidRoles", [64]);
      await viem.assertions.revertWithCustomError(registry.write.proposeAdmission(["0x0000000000000000000000000000000000000000", ZERO, Roles.LAB, noAccreditation], { account: lab }), registry, "ConsortiumZeroAddress");
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.proposeAdmission([wallets.regulator.account.address, ZERO, Roles.LAB, noAccreditation], { account: lab }), registry, "ConsortiumMemberExists", [wallets.regulator.account.address]);
      const expired = accreditation([RecordType.EL_IMAGE], f.now - 1n);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.proposeAdmission([x.address, ZERO, Roles.LAB, expired], { account: lab }), registry, "ConsortiumInvalidAccreditation", [x.address]);
      const bit0 = { ...accreditation([RecordType.EL_IMAGE], f.now + DAY), recordTypeScope: 1n };
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.proposeAccreditation([wallets.lab.account.address, bit0], { account: lab }), registry, "ConsortiumInvalidAccreditation", [wallets.lab.account.address]);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.proposeAccreditation([x.address, noAccreditation], { account: lab }), registry, "ConsortiumNotActiveMember", [x.address]);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.proposeQuorum([0n], { account: lab }), registry, "ConsortiumInvalidQuorum", [0n]);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.proposeQuorum([10_001n], { account: lab }), registry, "ConsortiumInvalidQuorum", [10_001n]);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.proposeStrikeThreshold([2n ** 32n], { account: lab }), registry, "ConsortiumInvalidStrikeThreshold", [2n ** 32n]);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.proposeQuorum([6000n], { account: wallets.outsider.account }), registry, "ConsortiumNotActiveMember", [wallets.outsider.account.address]);
    });
  });

  describe("the alliance rule: automatic suspension", () => {
    it("suspends a member whose revoked submissions reach the threshold; it can no longer anchor", async () => {
      const f = await networkHelpers.loadFixture(fixture);
      const { registry, ledger, wallets } = f;
      const records = [f.header(), f.header(), f.header(), f.header()];
      for (const h of records) await ledger.write.anchor([RecordType.EL_IMAGE, h], { account: wallets.lab.account });
      await ledger.write.revoke([wallets.lab.account.address, records[0].recordId, ZERO], { account: wallets.auditor.account });
      await ledger.write.revoke([wallets.lab.account.address, records[1].recordId, ZERO], { account: wallets.regulator.account });
      await viem.assertions.emitWithArgs(ledger.write.revoke([wallets.lab.account.address, records[2].recordId, ZERO], { account: wallets.lab.account }), registry, "MemberSuspended", [wallets.lab.account.address, text32("STRIKE_THRESHOLD"), true]);
      const m = await registry.read.memberOf([wallets.lab.account.address]);
      assert.equal(m.status, MemberStatus.Suspended);
      assert.equal(m.strikes, 3);
      await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.anchor([RecordType.EL_IMAGE, f.header()], { account: wallets.lab.account }), ledger, "QualityLedgerSubmitterNotActive", [wallets.lab.account.address]);
      // Further revocations still count, but do not suspend twice.
      await viem.assertions.emitWithArgs(ledger.write.revoke([wallets.lab.account.address, records[3].recordId, ZERO], { account: wallets.auditor.account }), registry, "StrikeRecorded", [wallets.lab.account.address, records[3].recordId, 4]);
      assert.equal(await registry.read.activeMemberCount(), 8n);
    });

    it("never suspends automatically when the threshold is 0", async () => {
      const connection2 = connection;
      const f = await deployConsortium(connection2, { strikeThreshold: 0n });
      for (let i = 0; i < 4; i++) {
        const h = f.header();
        await f.ledger.write.anchor([RecordType.EL_IMAGE, h], { account: f.wallets.lab.account });
        await f.ledger.write.revoke([f.wallets.lab.account.address, h.recordId, ZERO], { account: f.wallets.auditor.account });
      }
      assert.equal((await f.registry.read.memberOf([f.wallets.lab.account.address])).status, MemberStatus.Active);
    });

    it("takes strikes only from the bound ledger, bound once by the deployer", async () => {
      const f = await networkHelpers.loadFixture(fixture);
      const { registry, ledger, wallets } = f;
      assert.equal((await registry.read.ledger()).toLowerCase(), ledger.address.toLowerCase());
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.recordStrike([wallets.lab.account.address, ZERO], { account: wallets.regulator.account }), registry, "ConsortiumUnauthorized", [wallets.regulator.account.address]);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.bindLedger([wallets.outsider.account.address]), registry, "ConsortiumLedgerAlreadyBound", [ledger.address]);
      await viem.assertions.revertWithCustomErrorWithArgs(registry.write.bindLedger([wallets.outsider.account.address], { account: wallets.lab.account }), registry, "ConsortiumUnauthorized", [wallets.lab.account.address]);
      const [a] = await viem.getWalletClients();
      const fresh = await viem.deployContract("ConsortiumRegistry", [
        [{ account: a.account.address, organisationId: text32("SOLO"), roles: Roles.REGULATOR, accreditation: noAccreditation }],
        5000n,
        1n,
        DAY,
        0,
      ]);
      await viem.assertions.revertWithCustomError(fresh.write.bindLedger(["0x0000000000000000000000000000000000000000"]), fresh, "ConsortiumZeroAddress");
    });
  });
});

describe("ConsortiumRegistry and the ledger's mirror of standing (issue #13, tier C budget)", () => {
  it("mirrors every member at binding and on every change; only the registry writes the mirror", async () => {
    const f = await networkHelpers.loadFixture(mirrorFixture);
    const { registry, ledger, wallets } = f;
    const lab = wallets.lab.account.address;
    assert.equal((await ledger.read.standingOf([lab])).status, MemberStatus.Active);
    await viem.assertions.revertWithCustomErrorWithArgs(
      ledger.write.mirrorStanding([lab, { roles: 0, status: 0, strikes: 0, admittedAt: 0, accreditationValidUntil: 0, recordTypeScope: 0n }], { account: wallets.lab.account }),
      ledger,
      "StandingMirrorNotRegistry",
      [getAddress(lab)],
    );
    await registry.write.proposeSuspension([lab, id("audit")], { account: wallets.regulator.account });
    const pid = await registry.read.proposalCount();
    for (const w of [wallets.auditor, wallets.manufacturer, wallets.calLab, wallets.agent1]) await registry.write.vote([pid], { account: w.account });
    assert.equal((await ledger.read.standingOf([lab])).status, MemberStatus.Suspended);
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.anchorRoot([id("r"), 1, ZERO], { account: wallets.lab.account }), ledger, "QualityLedgerSubmitterNotActive", [getAddress(lab)]);
    assert.equal(await registry.read.accountOf([text32("LAB-1")]), getAddress(lab));
    assert.equal(await registry.read.accountOf([text32("NOBODY")]), "0x0000000000000000000000000000000000000000");
  });

  it("refuses a second member under an organisation id already taken", async () => {
    const f = await networkHelpers.loadFixture(mirrorFixture);
    await viem.assertions.revertWithCustomErrorWithArgs(
      f.registry.write.proposeAdmission([f.wallets.outsider.account.address, text32("LAB-1"), Roles.LAB, noAccreditation], { account: f.wallets.lab.account }),
      f.registry,
      "ConsortiumOrganisationExists",
      [text32("LAB-1"), getAddress(f.wallets.lab.account.address)],
    );
  });
});

async function mirrorFixture() {
  return deployConsortium(connection);
}
