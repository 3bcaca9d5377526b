// Issue #13, parts 1 to 3: a hostile consortium member signing raw transactions from the committed ABI
// against another member's records, roots, instruments and calibrations (docs/threat-model.md). Each case
// succeeded on the contracts before state was keyed by submitter.
import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";

import { network } from "hardhat";
import { getAddress } from "viem";
import type { PrivateKeyAccount } from "viem/accounts";

import { accreditation, admitByVote, DAY, deployConsortium, equip, id, RecordType, Roles, Status, ZERO } from "../test-utils/fixture.js";
import { proof, root as merkleRoot } from "../test-utils/merkle.js";
import { assertRawRevert, freshAccount, sendRaw } from "../test-utils/raw.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;

/** The consortium plus a hostile lab, accredited for test records and calibration certificates, that owns
 * an instrument of its own under the victim's instrument id and a reference standard of its own, calibrated
 * the only way a lab's reference standard is: by a certificate the reference body anchors for it. */
async function hostileFixture() {
  const f = await deployConsortium(connection);
  const hostile = await freshAccount(connection);
  await admitByVote(f, hostile.address, Roles.LAB, accreditation([RecordType.EL_IMAGE, RecordType.CALIBRATION_CERTIFICATE], f.now + 365n * DAY, "CNAS L0666"));
  const hostileCertificate = await equip(connection, f, hostile, "hostile");
  const hostileReference = id("instrument:hostile-reference");
  const hostileNmi = id("record:NMI-certificate-hostile");
  const raw = (fn: string, args: readonly unknown[]) => sendRaw(connection, hostile, f.ledger.address, f.ledger.abi, fn, args);
  await raw("registerInstrument", [hostileReference, ZERO]);
  const now = BigInt(await networkHelpers.time.latest());
  await f.ledger.write.anchorCalibration(
    [
      { recordId: hostileNmi, instrumentId: f.primaryId, calibrationDigest: f.primaryDeclaration, operatorId: id("operator:nmi-1"), measuredAt: now - 60n },
      { instrumentId: hostileReference, owner: hostile.address, validFrom: Number(f.now - 30n * DAY), validUntil: Number(f.now + 365n * DAY) },
    ],
    { account: f.wallets.nmi.account },
  );
  await raw("registerCalibration", [hostileReference, f.wallets.nmi.account.address, hostileNmi]);
  return { ...f, hostile, hostileCertificate, hostileReference, hostileNmi, raw };
}

describe("a hostile member (issue #13)", () => {
  let f: Awaited<ReturnType<typeof hostileFixture>>;
  let hostile: PrivateKeyAccount;
  let victim: `0x${string}`;
  beforeEach(async () => {
    f = await networkHelpers.loadFixture(hostileFixture);
    hostile = f.hostile;
    victim = getAddress(f.wallets.lab.account.address);
  });
  const status = (submitter: `0x${string}`, recordId: `0x${string}`, root = ZERO, p: `0x${string}`[] = []) =>
    f.ledger.read.statusOf([{ submitter, recordId, root, proof: p }]);

  async function victimBatch(n: number) {
    const b = f.batch(n);
    await f.ledger.write.anchorBatch([RecordType.EL_IMAGE, b.calibrations, b.operatorIds, b.headers], { account: f.wallets.lab.account });
    return { ...b, root: merkleRoot(b.recordIds) };
  }

  describe("ownership: only the issuer (or a regulator or auditor for cause) changes a record", () => {
    it("cannot revoke a victim's batched record through a tier C root of its own holding the victim's id", async () => {
      const b = await victimBatch(4);
      const target = b.recordIds[1];
      const ids = [target, id("hostile:filler")];
      const own = merkleRoot(ids);
      await f.raw("anchorRoot", [own, 2, ZERO]);
      // Under its own root the hostile member revokes only its own record of that digest.
      await f.raw("revokeBatched", [hostile.address, own, target, proof(ids, 0), ZERO]);
      assert.equal(await status(hostile.address, target, own, proof(ids, 0)), Status.Revoked);
      // Naming the victim as submitter with its own root: not a root of the victim's.
      await assertRawRevert(connection, hostile, f.ledger, "revokeBatched", [victim, own, target, proof(ids, 0), ZERO], "QualityLedgerUnknownRoot", [own]);
      // Naming the victim's root: not the victim's record to revoke.
      await assertRawRevert(connection, hostile, f.ledger, "revokeBatched", [victim, b.root, target, proof(b.recordIds, 1), ZERO], "QualityLedgerNotSubmitter", [getAddress(hostile.address), target]);
      // The victim's record is untouched under the victim's root, and the victim can still revoke it.
      assert.equal(await status(victim, target, b.root, proof(b.recordIds, 1)), Status.Anchored);
      await f.ledger.write.revokeBatched([victim, b.root, target, proof(b.recordIds, 1), ZERO], { account: f.wallets.lab.account });
      assert.equal(await status(victim, target, b.root, proof(b.recordIds, 1)), Status.Revoked);
    });

    it("cannot supersede a victim's batched record, and strikes no one trying", async () => {
      const b = await victimBatch(3);
      const target = b.recordIds[0];
      const ids = [target, id("hostile:replacement")];
      const own = merkleRoot(ids);
      await f.raw("anchorRoot", [own, 2, ZERO]);
      const theirs = { submitter: victim, recordId: target, root: b.root, proof: proof(b.recordIds, 0) };
      const replacement = { submitter: hostile.address, recordId: ids[1], root: own, proof: proof(ids, 1) };
      await assertRawRevert(connection, hostile, f.ledger, "supersedeBatched", [theirs, replacement, ZERO], "QualityLedgerNotSubmitter", [getAddress(hostile.address), target]);
      await assertRawRevert(connection, hostile, f.ledger, "supersedeBatched", [{ ...replacement, recordId: target, proof: proof(ids, 0) }, { ...theirs, recordId: b.recordIds[1], proof: proof(b.recordIds, 1) }, ZERO], "QualityLedgerNotSubmitter", [getAddress(hostile.address), b.recordIds[1]]);
      // Superseding its own copy changes only its own.
      await f.raw("supersedeBatched", [{ ...replacement, recordId: target, proof: proof(ids, 0) }, replacement, ZERO]);
      assert.equal(await status(victim, target, b.root, proof(b.recordIds, 0)), Status.Anchored);
      assert.equal(await f.ledger.read.supersededBy([victim, target]), ZERO);
      assert.equal((await f.registry.read.memberOf([victim])).strikes, 0);
    });

    it("cannot revoke a victim's tier A record; a regulator can, for cause, and the issuer takes the strike", async () => {
      const h = f.header();
      await f.ledger.write.anchor([RecordType.EL_IMAGE, h], { account: f.wallets.lab.account });
      await assertRawRevert(connection, hostile, f.ledger, "revoke", [victim, h.recordId, ZERO], "QualityLedgerNotSubmitter", [getAddress(hostile.address), h.recordId]);
      await assertRawRevert(connection, hostile, f.ledger, "revoke", [hostile.address, h.recordId, ZERO], "QualityLedgerUnknownRecord", [h.recordId]);
      await assertRawRevert(connection, hostile, f.ledger, "supersede", [h.recordId, id("any"), ZERO], "QualityLedgerUnknownRecord", [h.recordId]);
      const b = await victimBatch(2);
      await viem.assertions.emitWithArgs(
        f.ledger.write.revokeBatched([victim, b.root, b.recordIds[0], proof(b.recordIds, 0), id("cause")], { account: f.wallets.regulator.account }),
        f.registry,
        "StrikeRecorded",
        [victim, b.recordIds[0], 1],
      );
      assert.equal((await f.registry.read.memberOf([getAddress(hostile.address)])).strikes, 0);
    });

    it("cannot withdraw another lab's calibration by revoking a certificate of the same digest of its own", async () => {
      // The hostile calibration lab anchors the victim's certificate id, naming the victim's instrument.
      await f.raw("anchorCalibration", [
        { recordId: f.certificateId, instrumentId: f.hostileReference, calibrationDigest: f.hostileNmi, operatorId: id("op"), measuredAt: f.now - 60n },
        { instrumentId: f.instrumentId, owner: victim, validFrom: 1, validUntil: 2 ** 40 - 1 },
      ]);
      await f.raw("revoke", [hostile.address, f.certificateId, ZERO]);
      const c = await f.ledger.read.calibrationOf([victim, f.instrumentId, f.certificateId]);
      assert.equal(c.withdrawn, false);
      assert.equal(c.validFrom, Number(f.validFrom), "the window is the genuine certificate's");
      await f.ledger.write.anchor([RecordType.EL_IMAGE, f.header()], { account: f.wallets.lab.account });
    });

    it("cannot withdraw a reference calibration through a root of its own holding its digest", async () => {
      // Before issue 13 a reference calibration's digest was no record of anyone's: a root of the attacker's
      // holding it located it, revokeBatched revoked it and withdrew the calibration, and the calibration
      // lab's next certificates on that reference standard were refused.
      const nmi = getAddress(f.wallets.nmi.account.address);
      const cal = getAddress(f.wallets.calLab.account.address);
      for (const [owner, digest] of [[nmi, f.primaryDeclaration], [cal, f.nmiCertificate]] as const) {
        const ids = [digest, id(`hostile:filler:${digest}`)];
        const own = merkleRoot(ids);
        await f.raw("anchorRoot", [own, 2, ZERO]);
        await f.raw("revokeBatched", [hostile.address, own, digest, proof(ids, 0), ZERO]);
        await assertRawRevert(connection, hostile, f.ledger, "revokeBatched", [owner, own, digest, proof(ids, 0), ZERO], "QualityLedgerUnknownRoot", [own]);
      }
      assert.equal((await f.ledger.read.calibrationOf([nmi, f.primaryId, f.primaryDeclaration])).withdrawn, false);
      assert.equal((await f.ledger.read.calibrationOf([cal, f.referenceId, f.nmiCertificate])).withdrawn, false);
      // The reference body and the calibration lab still certify with them.
      const now = BigInt(await networkHelpers.time.latest());
      const window = { validFrom: Number(now - DAY), validUntil: Number(now + 100n * DAY) };
      const fresh = id("instrument:calibrated-after-the-attack");
      await f.ledger.write.registerInstrument([fresh, ZERO], { account: f.wallets.lab.account });
      await f.ledger.write.anchorCalibration(
        [f.header({ recordId: id("record:nmi-after-attack"), instrumentId: f.primaryId, calibrationDigest: f.primaryDeclaration }), { instrumentId: f.referenceId, owner: cal, ...window }],
        { account: f.wallets.nmi.account },
      );
      const cert = f.header({ recordId: id("record:cal-after-attack"), instrumentId: f.referenceId, calibrationDigest: f.nmiCertificate });
      await f.ledger.write.anchorCalibration([cert, { instrumentId: fresh, owner: victim, ...window }], { account: f.wallets.calLab.account });
      await f.ledger.write.registerCalibration([fresh, cal, cert.recordId], { account: f.wallets.lab.account });
      assert.equal(await f.ledger.read.isCalibratedAt([victim, fresh, cert.recordId, now]), true);
    });
  });

  describe("no claiming: another member's anchors never block a member's own", () => {
    it("anchoring the victim's digest first, in tier A, B or C, blocks nothing", async () => {
      const [a, b, c] = [f.header(), f.header(), f.header()];
      const own = (h: typeof a) => ({ ...h, calibrationDigest: f.hostileCertificate });
      await f.raw("anchor", [RecordType.EL_IMAGE, own(a)]);
      await f.raw("anchorBatch", [RecordType.EL_IMAGE, [{ instrumentId: f.instrumentId, calibrationDigest: f.hostileCertificate }], [id("op")], [{ recordId: b.recordId, measuredAt: b.measuredAt, calibration: 0, operator: 0 }]]);
      const ids = [c.recordId, id("x")];
      await f.raw("anchorRoot", [merkleRoot(ids), 2, ZERO]);
      // The victim anchors all three, in any tier, and becomes their recordOf submitter.
      await f.ledger.write.anchor([RecordType.EL_IMAGE, a], { account: f.wallets.lab.account });
      const batch = [b, c].sort((x, y) => (BigInt(x.recordId) < BigInt(y.recordId) ? -1 : 1));
      await f.ledger.write.anchorBatch([RecordType.EL_IMAGE, [{ instrumentId: f.instrumentId, calibrationDigest: f.certificateId }], [id("op")], batch.map((h) => ({ recordId: h.recordId, measuredAt: h.measuredAt, calibration: 0, operator: 0 }))], { account: f.wallets.lab.account });
      await f.ledger.write.anchorRoot([merkleRoot(ids), 2, ZERO], { account: f.wallets.lab.account });
      assert.equal(getAddress((await f.ledger.read.recordOf([victim, a.recordId])).submitter), victim);
      assert.equal(getAddress((await f.ledger.read.recordOf([hostile.address, a.recordId])).submitter), getAddress(hostile.address));
      assert.equal(getAddress((await f.ledger.read.rootOf([victim, merkleRoot(ids)])).submitter), victim);
    });

    it("copying the victim's header (its instrument and calibration) anchors nothing", async () => {
      const h = f.header();
      await assertRawRevert(connection, hostile, f.ledger, "anchor", [RecordType.EL_IMAGE, h], "QualityLedgerCalibrationNotRegistered", [h.recordId, f.instrumentId, f.certificateId]);
      await f.ledger.write.anchor([RecordType.EL_IMAGE, h], { account: f.wallets.lab.account });
    });

    it("registering the victim's instrument id or certificate first blocks nothing, and calibrates nothing of its own", async () => {
      const fresh = id("instrument:victim-new");
      await f.raw("registerInstrument", [fresh, ZERO]);
      await f.ledger.write.registerInstrument([fresh, ZERO], { account: f.wallets.lab.account });
      const cert = f.header({ recordId: id("record:victim-new-certificate"), instrumentId: f.referenceId, calibrationDigest: f.nmiCertificate });
      await f.ledger.write.anchorCalibration([cert, { instrumentId: fresh, owner: victim, validFrom: Number(f.now - DAY), validUntil: Number(f.now + 100n * DAY) }], { account: f.wallets.calLab.account });
      const cal = getAddress(f.wallets.calLab.account.address);
      // The victim's certificate does not calibrate the hostile member's instrument of the same id.
      await assertRawRevert(connection, hostile, f.ledger, "registerCalibration", [fresh, cal, cert.recordId], "CalibrationNotForInstrument", [cert.recordId, victim, fresh]);
      await f.ledger.write.registerCalibration([fresh, cal, cert.recordId], { account: f.wallets.lab.account });
      assert.equal(await f.ledger.read.isCalibratedAt([victim, fresh, cert.recordId, f.now]), true);
      assert.equal(await f.ledger.read.isCalibratedAt([hostile.address, fresh, cert.recordId, f.now]), false);
    });
  });
  describe("traceability: a reference calibration needs the consortium's decision, not the member's word", () => {
    it("cannot register a reference calibration for itself, with any digest or window, on any instrument", async () => {
      const fresh = id("instrument:hostile-self-declared");
      await f.raw("registerInstrument", [fresh, ZERO]);
      const now = Number(f.now);
      for (const [instrument, digest, from, until] of [
        [fresh, id("certificate:forged-NMI"), now - 30 * 86_400, now + 3650 * 86_400],
        [fresh, f.primaryDeclaration, now - 60 * 86_400, now + 730 * 86_400], // the reference body's own digest
        [f.hostileReference, id("certificate:extension"), now, 2 ** 40 - 1], // extend its genuine calibration
        [f.instrumentId, f.hostileCertificate, 1, 2], // its camera, under a certificate id it holds
        [fresh, ZERO, 0, 0], // malformed arguments: refused for the role first
        [f.primaryId, f.primaryDeclaration, now - 60 * 86_400, now + 730 * 86_400], // the body's instrument id
      ] as const) {
        await assertRawRevert(connection, hostile, f.ledger, "registerReferenceCalibration", [instrument, digest, from, until], "InstrumentNotReferenceBody", [getAddress(hostile.address)]);
      }
      assert.deepEqual(await f.ledger.read.calibrationHistory([hostile.address, fresh]), []);
      assert.deepEqual(await f.ledger.read.calibrationHistory([hostile.address, f.hostileReference]), [f.hostileNmi]);
      assert.equal((await f.ledger.read.calibrationOf([hostile.address, f.hostileReference, f.hostileNmi])).external_, false);
    });

    it("cannot borrow the reference body's primary standard, its declaration or another lab's certificate", async () => {
      const nmi = getAddress(f.wallets.nmi.account.address);
      // The declaration is no anchored certificate; the calibration lab's certificate names another owner.
      await assertRawRevert(connection, hostile, f.ledger, "registerCalibration", [f.hostileReference, nmi, f.primaryDeclaration], "CalibrationCertificateNotAnchored", [f.primaryDeclaration]);
      await assertRawRevert(connection, hostile, f.ledger, "registerCalibration", [f.hostileReference, nmi, f.nmiCertificate], "CalibrationNotForInstrument", [f.nmiCertificate, getAddress(f.wallets.calLab.account.address), f.referenceId]);
      // Certifying with the reference body's primary standard: an instrument of the body's, not its own.
      const forged = f.header({ recordId: id("record:hostile-primary-certificate"), instrumentId: f.primaryId, calibrationDigest: f.primaryDeclaration });
      await assertRawRevert(connection, hostile, f.ledger, "anchorCalibration", [forged, { instrumentId: f.hostileReference, owner: hostile.address, validFrom: 1, validUntil: 2 ** 40 - 1 }], "QualityLedgerCalibrationNotRegistered", [forged.recordId, f.primaryId, f.primaryDeclaration]);
      // Nor does an instrument of its own under the primary standard's id calibrate with the declaration.
      await f.raw("registerInstrument", [f.primaryId, ZERO]);
      await assertRawRevert(connection, hostile, f.ledger, "anchorCalibration", [forged, { instrumentId: f.hostileReference, owner: hostile.address, validFrom: 1, validUntil: 2 ** 40 - 1 }], "QualityLedgerCalibrationNotRegistered", [forged.recordId, f.primaryId, f.primaryDeclaration]);
    });
  });
});
