import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";

import { network } from "hardhat";
import type { PrivateKeyAccount } from "viem/accounts";

import {
  accreditation,
  admitByVote,
  DAY,
  deployConsortium,
  equip,
  id,
  RecordType,
  Roles,
  Status,
  toBatch,
  ZERO,
} from "../test-utils/fixture.js";
import { proof, root as merkleRoot } from "../test-utils/merkle.js";
import { assertRawRevert, freshAccount, sendRaw } from "../test-utils/raw.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;

async function fixture() {
  return deployConsortium(connection);
}

/** The consortium plus a lab admitted by vote that signs its own transactions, bypassing the service. */
async function rogueFixture() {
  const f = await deployConsortium(connection);
  const rogue = await freshAccount(connection);
  await admitByVote(f, rogue.address, Roles.LAB, accreditation([RecordType.EL_IMAGE], f.now + 365n * DAY, "CNAS L0099"));
  const rogueCertificate = await equip(connection, f, rogue, "rogue");
  const header: typeof f.header = (overrides = {}) => f.header({ calibrationDigest: rogueCertificate, ...overrides });
  return { ...f, rogue, rogueCertificate, header };
}

describe("QualityLedger", () => {
  it("reports its version and consortium", async () => {
    const { ledger, registry } = await networkHelpers.loadFixture(fixture);
    assert.equal(await ledger.read.version(), "0.1.0");
    assert.equal((await ledger.read.consortium()).toLowerCase(), registry.address.toLowerCase());
  });

  describe("tier A anchor", () => {
    it("anchors a valid record, stores one slot and emits the details", async () => {
      const { ledger, wallets, header } = await networkHelpers.loadFixture(fixture);
      const h = header();
      await viem.assertions.emitWithArgs(
        ledger.write.anchor([RecordType.EL_IMAGE, h], { account: wallets.lab.account }),
        ledger,
        "RecordAnchored",
        [h.recordId, wallets.lab.account.address, RecordType.EL_IMAGE, h.instrumentId, h.calibrationDigest, h.operatorId, h.measuredAt],
      );
      const state = await ledger.read.recordOf([wallets.lab.account.address, h.recordId]);
      assert.equal(state.submitter.toLowerCase(), wallets.lab.account.address.toLowerCase());
      assert.equal(state.status, Status.Anchored);
      assert.equal(state.tier, 1);
      assert.equal(state.recordType, RecordType.EL_IMAGE);
      const lab = wallets.lab.account.address;
      assert.equal(await ledger.read.statusOf([{ submitter: lab, recordId: h.recordId, root: ZERO, proof: [] }]), Status.Anchored);
      assert.equal(await ledger.read.statusOf([{ submitter: wallets.calLab.account.address, recordId: h.recordId, root: ZERO, proof: [] }]), Status.None, "state is keyed by submitter");
    });

    it("accepts a measurement on either edge of the calibration window", async () => {
      const { ledger, wallets, header, validFrom } = await networkHelpers.loadFixture(fixture);
      await ledger.write.anchor([RecordType.EL_IMAGE, header({ measuredAt: validFrom })], { account: wallets.lab.account });
      const now = BigInt(await networkHelpers.time.latest());
      await ledger.write.anchor([RecordType.EL_IMAGE, header({ measuredAt: now })], { account: wallets.lab.account });
    });

    describe("refuses, as raw transactions from a member that never used the service", () => {
      let f: Awaited<ReturnType<typeof rogueFixture>>;
      let rogue: PrivateKeyAccount;
      beforeEach(async () => {
        // The rogue lab has its own instrument under the test lab's instrument id, with its own certificate.
        f = await networkHelpers.loadFixture(rogueFixture);
        rogue = f.rogue;
      });
      const anchor = (args: unknown[], error: string, errorArgs: unknown[]) =>
        assertRawRevert(connection, rogue, f.ledger, "anchor", args, error, errorArgs);

      it("a zero record id", async () => {
        await anchor([RecordType.EL_IMAGE, f.header({ recordId: ZERO })], "QualityLedgerZeroRecordId", []);
      });
      it("a zero instrument id", async () => {
        const h = f.header({ instrumentId: ZERO });
        await anchor([RecordType.EL_IMAGE, h], "QualityLedgerZeroInstrument", [h.recordId]);
      });
      it("a zero calibration digest", async () => {
        const h = f.header({ calibrationDigest: ZERO });
        await anchor([RecordType.EL_IMAGE, h], "QualityLedgerZeroCalibration", [h.recordId]);
      });
      it("a calibration not registered for that instrument", async () => {
        const h = f.header({ instrumentId: f.referenceId });
        await anchor([RecordType.EL_IMAGE, h], "QualityLedgerCalibrationNotRegistered", [h.recordId, f.referenceId, f.rogueCertificate]);
        // The test lab's certificate calibrates the test lab's instrument, not the rogue's of the same id.
        const theirs = f.header({ calibrationDigest: f.certificateId });
        await anchor([RecordType.EL_IMAGE, theirs], "QualityLedgerCalibrationNotRegistered", [theirs.recordId, f.instrumentId, f.certificateId]);
        const other = f.header({ calibrationDigest: id("certificate:never-registered") });
        await anchor([RecordType.EL_IMAGE, other], "QualityLedgerCalibrationNotRegistered", [other.recordId, f.instrumentId, other.calibrationDigest]);
      });
      it("measured_at before the calibration window", async () => {
        const h = f.header({ measuredAt: f.validFrom - 1n });
        await anchor([RecordType.EL_IMAGE, h], "QualityLedgerCalibrationNotValidAt", [h.recordId, h.measuredAt, Number(f.validFrom), Number(f.validUntil)]);
      });
      it("measured_at after the calibration window (expired calibration)", async () => {
        const g = await networkHelpers.loadFixture(fixture);
        const lab = await freshAccount(connection);
        await admitByVote(g, lab.address, Roles.LAB, accreditation([RecordType.EL_IMAGE], g.now + 800n * DAY, "CNAS L0098"));
        const certificate = await equip(connection, g, lab, "expired");
        await networkHelpers.time.increaseTo(g.validUntil + 10n);
        const h = g.header({ measuredAt: g.validUntil + 1n, calibrationDigest: certificate });
        await assertRawRevert(connection, lab, g.ledger, "anchor", [RecordType.EL_IMAGE, h], "QualityLedgerCalibrationNotValidAt", [h.recordId, h.measuredAt, Number(g.validFrom), Number(g.validUntil)]);
      });
      it("measured_at in the future", async () => {
        const h = f.header({ measuredAt: f.now + 30n * DAY });
        await anchor([RecordType.EL_IMAGE, h], "QualityLedgerMeasuredInFuture", [h.recordId, h.measuredAt]);
      });
      it("a zero operator id", async () => {
        const h = f.header({ operatorId: ZERO });
        await anchor([RecordType.EL_IMAGE, h], "QualityLedgerZeroOperator", [h.recordId]);
      });
      it("a record type outside its accreditation", async () => {
        await anchor([RecordType.TENSILE_TEST, f.header()], "QualityLedgerSubmitterNotAccredited", [rogue.address, RecordType.TENSILE_TEST]);
      });
      it("an invalid record type code", async () => {
        await anchor([0, f.header()], "QualityLedgerInvalidRecordType", [0]);
        await anchor([64, f.header()], "QualityLedgerInvalidRecordType", [64]);
      });
      it("a digest already anchored", async () => {
        const h = f.header();
        const receipt = await sendRaw(connection, rogue, f.ledger.address, f.ledger.abi, "anchor", [RecordType.EL_IMAGE, h]);
        assert.equal(receipt.status, "success");
        await anchor([RecordType.EL_IMAGE, h], "QualityLedgerRecordExists", [h.recordId]);
      });
      it("a submitter that is not a member", async () => {
        const outsider = await freshAccount(connection);
        await assertRawRevert(connection, outsider, f.ledger, "anchor", [RecordType.EL_IMAGE, f.header()], "QualityLedgerSubmitterNotActive", [outsider.address]);
      });
      it("a submitter whose accreditation expired", async () => {
        const g = await networkHelpers.loadFixture(fixture);
        const lab = await freshAccount(connection);
        await admitByVote(g, lab.address, Roles.LAB, accreditation([RecordType.EL_IMAGE], g.now + 2n * DAY, "CNAS L0097"));
        await networkHelpers.time.increase(3n * DAY);
        await assertRawRevert(connection, lab, g.ledger, "anchor", [RecordType.EL_IMAGE, g.header()], "QualityLedgerAccreditationExpired", [lab.address, Number(g.now + 2n * DAY)]);
      });
    });

    it("refuses a suspended member", async () => {
      const f = await networkHelpers.loadFixture(fixture);
      const { registry, ledger, wallets } = f;
      await registry.write.proposeSuspension([wallets.lab.account.address, id("audit finding")], { account: wallets.regulator.account });
      const pid = await registry.read.proposalCount();
      for (const w of [wallets.auditor, wallets.manufacturer, wallets.calLab, wallets.agent1]) await registry.write.vote([pid], { account: w.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        ledger.write.anchor([RecordType.EL_IMAGE, f.header()], { account: wallets.lab.account }),
        ledger,
        "QualityLedgerSubmitterNotActive",
        [wallets.lab.account.address],
      );
    });

    it("refuses a measurement whose calibration certificate was revoked", async () => {
      const f = await networkHelpers.loadFixture(fixture);
      const { ledger, wallets } = f;
      await viem.assertions.emitWithArgs(
        ledger.write.revoke([wallets.calLab.account.address, f.certificateId, id("reference standard out of tolerance")], { account: wallets.calLab.account }),
        ledger,
        "CalibrationWithdrawn",
        [f.instrumentId, wallets.lab.account.address, f.certificateId],
      );
      const h = f.header();
      await viem.assertions.revertWithCustomErrorWithArgs(
        ledger.write.anchor([RecordType.EL_IMAGE, h], { account: wallets.lab.account }),
        ledger,
        "QualityLedgerCalibrationWithdrawn",
        [h.recordId, f.certificateId],
      );
      assert.equal(await ledger.read.isCalibratedAt([wallets.lab.account.address, f.instrumentId, f.certificateId, h.measuredAt]), false);
    });
  });

  describe("tier B anchorBatch", () => {
    it("checks every header, builds the Merkle root on chain and stores only the root", async () => {
      const { ledger, wallets, batch } = await networkHelpers.loadFixture(fixture);
      const b = batch(37);
      const expected = merkleRoot(b.recordIds);
      await viem.assertions.emitWithArgs(
        ledger.write.anchorBatch([RecordType.EL_IMAGE, b.calibrations, b.operatorIds, b.headers], { account: wallets.lab.account }),
        ledger,
        "BatchAnchored",
        [expected, wallets.lab.account.address, RecordType.EL_IMAGE, 37],
      );
      const lab = wallets.lab.account.address;
      const r = await ledger.read.rootOf([lab, expected]);
      assert.equal(r.count, 37);
      assert.equal(r.tier, 2);
      for (const i of [0, 17, 36]) {
        const inclusion = { submitter: lab, recordId: b.recordIds[i], root: expected, proof: proof(b.recordIds, i) };
        assert.equal(await ledger.read.statusOf([inclusion]), Status.Anchored);
      }
      assert.equal(await ledger.read.statusOf([{ submitter: lab, recordId: b.recordIds[0], root: expected, proof: proof(b.recordIds, 1) }]), Status.None);
      const many = await ledger.read.statusesOf([
        [
          { submitter: lab, recordId: b.recordIds[3], root: expected, proof: proof(b.recordIds, 3) },
          { submitter: lab, recordId: b.recordIds[3], root: expected, proof: proof(b.recordIds, 4) },
          { submitter: lab, recordId: b.recordIds[36], root: expected, proof: proof(b.recordIds, 36) },
        ],
      ]);
      assert.deepEqual([...many], [Status.Anchored, Status.None, Status.Anchored]);
      assert.equal((await ledger.read.recordOf([lab, b.recordIds[0]])).status, Status.None, "batched records take no slot");
    });

    it("anchors a batch of one, with several calibrations and operators", async () => {
      const f = await networkHelpers.loadFixture(fixture);
      const one = f.batch(1);
      await f.ledger.write.anchorBatch([RecordType.EL_IMAGE, one.calibrations, one.operatorIds, one.headers], { account: f.wallets.lab.account });
      assert.equal((await f.ledger.read.rootOf([f.wallets.lab.account.address, merkleRoot(one.recordIds)])).count, 1);
      const mixed = [f.header(), f.header({ operatorId: id("operator:bob") }), f.header({ operatorId: id("operator:carol") })].sort((a, b) => (BigInt(a.recordId) < BigInt(b.recordId) ? -1 : 1));
      const m = toBatch(mixed);
      assert.equal(m.operatorIds.length, 3);
      await f.ledger.write.anchorBatch([RecordType.EL_IMAGE, m.calibrations, m.operatorIds, m.headers], { account: f.wallets.lab.account });
    });

    describe("refuses, as raw transactions", () => {
      let f: Awaited<ReturnType<typeof rogueFixture>>;
      let rogue: PrivateKeyAccount;
      beforeEach(async () => {
        f = await networkHelpers.loadFixture(rogueFixture);
        rogue = f.rogue;
      });
      const anchorBatch = (b: ReturnType<typeof toBatch>, error: string, errorArgs: unknown[], recordType: number = RecordType.EL_IMAGE) =>
        assertRawRevert(connection, rogue, f.ledger, "anchorBatch", [recordType, b.calibrations, b.operatorIds, b.headers], error, errorArgs);
      const sorted = (hs: ReturnType<typeof f.header>[]) => hs.sort((a, b) => (BigInt(a.recordId) < BigInt(b.recordId) ? -1 : 1));

      it("an empty batch", async () => {
        await anchorBatch({ calibrations: [], operatorIds: [], headers: [], recordIds: [] }, "QualityLedgerEmptyBatch", []);
      });
      it("one bad header among good ones, naming that record", async () => {
        const bad = f.header({ operatorId: ZERO });
        const b = toBatch(sorted([f.header(), f.header(), bad, f.header()]));
        await anchorBatch(b, "QualityLedgerZeroOperator", [bad.recordId]);
      });
      it("a zero instrument id", async () => {
        const bad = f.header({ instrumentId: ZERO });
        await anchorBatch(toBatch(sorted([f.header(), bad])), "QualityLedgerZeroInstrument", [bad.recordId]);
      });
      it("a zero calibration digest", async () => {
        const bad = f.header({ calibrationDigest: ZERO });
        await anchorBatch(toBatch(sorted([bad, f.header()])), "QualityLedgerZeroCalibration", [bad.recordId]);
      });
      it("a calibration not registered for that instrument", async () => {
        const bad = f.header({ instrumentId: f.referenceId });
        await anchorBatch(toBatch([bad]), "QualityLedgerCalibrationNotRegistered", [bad.recordId, f.referenceId, f.rogueCertificate]);
      });
      it("measured_at outside the calibration window", async () => {
        const bad = f.header({ measuredAt: f.validFrom - 100n });
        await anchorBatch(toBatch(sorted([f.header(), bad])), "QualityLedgerCalibrationNotValidAt", [bad.recordId, bad.measuredAt, Number(f.validFrom), Number(f.validUntil)]);
      });
      it("measured_at in the future", async () => {
        const bad = f.header({ measuredAt: f.now + 10n * DAY });
        await anchorBatch(toBatch([bad]), "QualityLedgerMeasuredInFuture", [bad.recordId, bad.measuredAt]);
      });
      it("a record type outside the submitter's accreditation", async () => {
        await anchorBatch(toBatch([f.header()]), "QualityLedgerSubmitterNotAccredited", [rogue.address, RecordType.XRF_ANALYSIS], RecordType.XRF_ANALYSIS);
      });
      it("a submitter that is not a member", async () => {
        const outsider = await freshAccount(connection);
        const b = toBatch([f.header()]);
        await assertRawRevert(connection, outsider, f.ledger, "anchorBatch", [RecordType.EL_IMAGE, b.calibrations, b.operatorIds, b.headers], "QualityLedgerSubmitterNotActive", [outsider.address]);
      });
      it("a digest the submitter anchored already in tier A", async () => {
        const h = f.header();
        await sendRaw(connection, rogue, f.ledger.address, f.ledger.abi, "anchor", [RecordType.EL_IMAGE, h]);
        await anchorBatch(toBatch(sorted([h, f.header()])), "QualityLedgerRecordExists", [h.recordId]);
      });
      it("a digest twice in the batch", async () => {
        const h = f.header();
        await anchorBatch(toBatch([h, { ...h }]), "QualityLedgerRecordExists", [h.recordId]);
      });
      it("headers out of order", async () => {
        const [a, b] = sorted([f.header(), f.header()]);
        await anchorBatch(toBatch([b, a]), "QualityLedgerBatchNotSorted", [1n]);
      });
      it("a zero record id", async () => {
        await anchorBatch(toBatch([f.header({ recordId: ZERO })]), "QualityLedgerZeroRecordId", []);
      });
      it("a header referring past the batch's tables", async () => {
        const b = toBatch([f.header()]);
        b.headers[0].operator = 1;
        await anchorBatch(b, "QualityLedgerBatchBadReference", [0n]);
        const c = toBatch([f.header()]);
        c.headers[0].calibration = 5;
        await anchorBatch(c, "QualityLedgerBatchBadReference", [0n]);
      });
      it("the same batch twice", async () => {
        const b = toBatch([f.header()]);
        const receipt = await sendRaw(connection, rogue, f.ledger.address, f.ledger.abi, "anchorBatch", [RecordType.EL_IMAGE, b.calibrations, b.operatorIds, b.headers]);
        assert.equal(receipt.status, "success");
        await anchorBatch(b, "QualityLedgerRootExists", [merkleRoot(b.recordIds)]);
      });
    });
  });

  describe("tier C anchorRoot", () => {
    it("anchors an off-chain root with its count and schema", async () => {
      const { ledger, wallets } = await networkHelpers.loadFixture(fixture);
      const ids = Array.from({ length: 5 }, (_, i) => id(`c:${i}`));
      const r = merkleRoot(ids);
      await viem.assertions.emitWithArgs(
        ledger.write.anchorRoot([r, 5, id("schema:el_image/1")], { account: wallets.manufacturer.account }),
        ledger,
        "RootAnchored",
        [r, wallets.manufacturer.account.address, 5, id("schema:el_image/1")],
      );
      const mfr = wallets.manufacturer.account.address;
      assert.equal(await ledger.read.statusOf([{ submitter: mfr, recordId: ids[4], root: r, proof: proof(ids, 4) }]), Status.Anchored);
      assert.equal(await ledger.read.statusOf([{ submitter: mfr, recordId: ids[4], root: id("unknown root"), proof: proof(ids, 4) }]), Status.None);
      assert.equal(await ledger.read.statusOf([{ submitter: wallets.lab.account.address, recordId: ids[4], root: r, proof: proof(ids, 4) }]), Status.None);
    });

    it("refuses a non-member, a zero root, an empty root and a root anchored twice", async () => {
      const { ledger, wallets } = await networkHelpers.loadFixture(fixture);
      const r = id("root");
      await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.anchorRoot([r, 1, ZERO], { account: wallets.outsider.account }), ledger, "QualityLedgerSubmitterNotActive", [wallets.outsider.account.address]);
      await viem.assertions.revertWithCustomError(ledger.write.anchorRoot([ZERO, 1, ZERO], { account: wallets.lab.account }), ledger, "QualityLedgerZeroRoot");
      await viem.assertions.revertWithCustomError(ledger.write.anchorRoot([r, 0, ZERO], { account: wallets.lab.account }), ledger, "QualityLedgerEmptyBatch");
      await ledger.write.anchorRoot([r, 1, ZERO], { account: wallets.lab.account });
      await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.anchorRoot([r, 1, ZERO], { account: wallets.lab.account }), ledger, "QualityLedgerRootExists", [r]);
    });
  });

  describe("revoke", () => {
    it("lets the submitter revoke its own record, and counts a strike", async () => {
      const { ledger, registry, wallets, header } = await networkHelpers.loadFixture(fixture);
      const h = header();
      await ledger.write.anchor([RecordType.EL_IMAGE, h], { account: wallets.lab.account });
      const reason = id("transcription error");
      const lab = wallets.lab.account.address;
      await viem.assertions.emitWithArgs(ledger.write.revoke([lab, h.recordId, reason], { account: wallets.lab.account }), ledger, "RecordRevoked", [h.recordId, lab, ZERO, lab, reason]);
      assert.equal((await ledger.read.recordOf([lab, h.recordId])).status, Status.Revoked);
      assert.equal((await registry.read.memberOf([wallets.lab.account.address])).strikes, 1);
    });

    it("lets a regulator or an auditor revoke any record, but no other member", async () => {
      const { ledger, registry, wallets, header } = await networkHelpers.loadFixture(fixture);
      const [a, b, c] = [header(), header(), header()];
      for (const h of [a, b, c]) await ledger.write.anchor([RecordType.EL_IMAGE, h], { account: wallets.lab.account });
      const lab = wallets.lab.account.address;
      await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.revoke([lab, a.recordId, ZERO], { account: wallets.manufacturer.account }), ledger, "QualityLedgerNotSubmitter", [wallets.manufacturer.account.address, a.recordId]);
      await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.revoke([lab, a.recordId, ZERO], { account: wallets.outsider.account }), ledger, "QualityLedgerUnauthorized", [wallets.outsider.account.address, a.recordId]);
      await viem.assertions.emitWithArgs(ledger.write.revoke([lab, a.recordId, ZERO], { account: wallets.regulator.account }), registry, "StrikeRecorded", [lab, a.recordId, 1]);
      await ledger.write.revoke([lab, b.recordId, ZERO], { account: wallets.auditor.account });
      assert.equal((await ledger.read.recordOf([lab, b.recordId])).status, Status.Revoked);
      assert.equal((await registry.read.memberOf([lab])).strikes, 2, "revocation for cause strikes the issuer");
    });

    it("never lets a revoked record change again or be anchored again", async () => {
      const { ledger, wallets, header, batch } = await networkHelpers.loadFixture(fixture);
      const h = header();
      await ledger.write.anchor([RecordType.EL_IMAGE, h], { account: wallets.lab.account });
      const lab = wallets.lab.account.address;
      await ledger.write.revoke([lab, h.recordId, ZERO], { account: wallets.lab.account });
      await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.revoke([lab, h.recordId, ZERO], { account: wallets.regulator.account }), ledger, "QualityLedgerRecordNotInForce", [h.recordId, Status.Revoked]);
      await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.anchor([RecordType.EL_IMAGE, h], { account: wallets.lab.account }), ledger, "QualityLedgerRecordExists", [h.recordId]);
      const b = toBatch([h]);
      await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.anchorBatch([RecordType.EL_IMAGE, b.calibrations, b.operatorIds, b.headers], { account: wallets.lab.account }), ledger, "QualityLedgerRecordExists", [h.recordId]);
      assert.ok(batch);
    });

    it("revokes a record inside a tier B batch by root and proof, without touching its neighbours", async () => {
      const { ledger, wallets, batch } = await networkHelpers.loadFixture(fixture);
      const b = batch(9);
      await ledger.write.anchorBatch([RecordType.EL_IMAGE, b.calibrations, b.operatorIds, b.headers], { account: wallets.lab.account });
      const r = merkleRoot(b.recordIds);
      const lab = wallets.lab.account.address;
      await viem.assertions.emitWithArgs(ledger.write.revokeBatched([lab, r, b.recordIds[4], proof(b.recordIds, 4), ZERO], { account: wallets.auditor.account }), ledger, "RecordRevoked", [b.recordIds[4], lab, r, wallets.auditor.account.address, ZERO]);
      assert.equal(await ledger.read.statusOf([{ submitter: lab, recordId: b.recordIds[4], root: r, proof: proof(b.recordIds, 4) }]), Status.Revoked);
      assert.equal(await ledger.read.statusOf([{ submitter: lab, recordId: b.recordIds[4], root: ZERO, proof: [] }]), Status.Revoked);
      assert.equal(await ledger.read.statusOf([{ submitter: lab, recordId: b.recordIds[5], root: r, proof: proof(b.recordIds, 5) }]), Status.Anchored);
      const state = await ledger.read.recordOf([lab, b.recordIds[4]]);
      assert.equal(state.submitter.toLowerCase(), wallets.lab.account.address.toLowerCase());
      assert.equal(state.tier, 2);
    });

    it("revokes a record inside a tier C root; refuses unknown roots, bad proofs and unknown records", async () => {
      const { ledger, wallets } = await networkHelpers.loadFixture(fixture);
      const ids = Array.from({ length: 6 }, (_, i) => id(`routine:${i}`));
      const r = merkleRoot(ids);
      await ledger.write.anchorRoot([r, 6, ZERO], { account: wallets.lab.account });
      const lab = wallets.lab.account.address;
      await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.revokeBatched([lab, id("nope"), ids[1], proof(ids, 1), ZERO], { account: wallets.lab.account }), ledger, "QualityLedgerUnknownRoot", [id("nope")]);
      await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.revokeBatched([lab, r, ids[1], proof(ids, 2), ZERO], { account: wallets.lab.account }), ledger, "QualityLedgerNotIncluded", [r, ids[1]]);
      await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.revoke([lab, id("never"), ZERO], { account: wallets.lab.account }), ledger, "QualityLedgerUnknownRecord", [id("never")]);
      await ledger.write.revokeBatched([lab, r, ids[5], proof(ids, 5), ZERO], { account: wallets.lab.account });
      assert.equal(await ledger.read.statusOf([{ submitter: lab, recordId: ids[5], root: r, proof: proof(ids, 5) }]), Status.Revoked);
    });
  });

  describe("supersede", () => {
    it("marks a tier A record superseded by an amended record of the same lab", async () => {
      const { ledger, wallets, header } = await networkHelpers.loadFixture(fixture);
      const [old, amended] = [header(), header()];
      for (const h of [old, amended]) await ledger.write.anchor([RecordType.TENSILE_TEST, h], { account: wallets.lab.account });
      const reason = id("ISO/IEC 17025 7.8.8 amendment");
      await viem.assertions.emitWithArgs(ledger.write.supersede([old.recordId, amended.recordId, reason], { account: wallets.lab.account }), ledger, "RecordSuperseded", [old.recordId, amended.recordId, wallets.lab.account.address, reason]);
      const lab = wallets.lab.account.address;
      assert.equal((await ledger.read.recordOf([lab, old.recordId])).status, Status.Superseded);
      assert.equal(await ledger.read.supersededBy([lab, old.recordId]), amended.recordId);
      await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.supersede([old.recordId, amended.recordId, reason], { account: wallets.lab.account }), ledger, "QualityLedgerRecordNotInForce", [old.recordId, Status.Superseded]);
    });

    it("refuses another member, a self-replacement and a revoked replacement", async () => {
      const { ledger, wallets, header } = await networkHelpers.loadFixture(fixture);
      const [a, b, c] = [header(), header(), header()];
      for (const h of [a, b, c]) await ledger.write.anchor([RecordType.EL_IMAGE, h], { account: wallets.lab.account });
      // Another member's supersede looks for its own records of those ids: there are none.
      await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.supersede([a.recordId, b.recordId, ZERO], { account: wallets.regulator.account }), ledger, "QualityLedgerUnknownRecord", [a.recordId]);
      await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.supersede([a.recordId, a.recordId, ZERO], { account: wallets.lab.account }), ledger, "QualityLedgerSelfSupersede", [a.recordId]);
      await ledger.write.revoke([wallets.lab.account.address, c.recordId, ZERO], { account: wallets.lab.account });
      await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.supersede([a.recordId, c.recordId, ZERO], { account: wallets.lab.account }), ledger, "QualityLedgerRecordNotInForce", [c.recordId, Status.Revoked]);
    });

    it("supersedes a batched record by a tier A record, by root and proof", async () => {
      const { ledger, wallets, batch, header } = await networkHelpers.loadFixture(fixture);
      const b = batch(4);
      await ledger.write.anchorBatch([RecordType.EL_IMAGE, b.calibrations, b.operatorIds, b.headers], { account: wallets.lab.account });
      const r = merkleRoot(b.recordIds);
      const amended = header();
      await ledger.write.anchor([RecordType.EL_IMAGE, amended], { account: wallets.lab.account });
      const lab = wallets.lab.account.address;
      await ledger.write.supersedeBatched(
        [{ submitter: lab, recordId: b.recordIds[2], root: r, proof: proof(b.recordIds, 2) }, { submitter: lab, recordId: amended.recordId, root: ZERO, proof: [] }, ZERO],
        { account: wallets.lab.account },
      );
      assert.equal(await ledger.read.statusOf([{ submitter: lab, recordId: b.recordIds[2], root: r, proof: proof(b.recordIds, 2) }]), Status.Superseded);
      assert.equal(await ledger.read.supersededBy([lab, b.recordIds[2]]), amended.recordId);
    });

    it("withdraws the calibration when its certificate is superseded", async () => {
      const f = await networkHelpers.loadFixture(fixture);
      const { ledger, wallets } = f;
      const renewed = f.header({ recordId: id("record:calibration-certificate-2"), instrumentId: f.referenceId, calibrationDigest: f.nmiCertificate });
      await ledger.write.anchor([RecordType.CALIBRATION_CERTIFICATE, renewed], { account: wallets.calLab.account });
      const lab = wallets.lab.account.address;
      await viem.assertions.emitWithArgs(ledger.write.supersede([f.certificateId, renewed.recordId, ZERO], { account: wallets.calLab.account }), ledger, "CalibrationWithdrawn", [f.instrumentId, lab, f.certificateId]);
      assert.equal((await ledger.read.calibrationOf([lab, f.instrumentId, f.certificateId])).withdrawn, true);
    });
  });
});
