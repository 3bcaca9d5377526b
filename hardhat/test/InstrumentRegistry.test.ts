import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { network } from "hardhat";
import { getAddress } from "viem";

import { accreditation, admitByVote, DAY, deployConsortium, id, RecordType, Roles, text32, ZERO } from "../test-utils/fixture.js";
import { assertRawRevert, freshAccount, sendRaw } from "../test-utils/raw.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;

async function fixture() {
  return deployConsortium(connection);
}

describe("InstrumentRegistry (part of QualityLedger)", () => {
  it("registers instruments keyed by owner and refuses duplicates of one's own, zero ids and outsiders", async () => {
    const { ledger, wallets, instrumentId } = await networkHelpers.loadFixture(fixture);
    const lab = wallets.lab.account.address;
    const inst = await ledger.read.instrumentOf([lab, instrumentId]);
    assert.equal(inst.owner.toLowerCase(), lab.toLowerCase());
    assert.equal(inst.modelDigest, id("model:EL-camera"));
    const tensile = id("instrument:tensile-1");
    await viem.assertions.emitWithArgs(ledger.write.registerInstrument([tensile, id("model:tensile")], { account: wallets.manufacturer.account }), ledger, "InstrumentRegistered", [tensile, wallets.manufacturer.account.address, id("model:tensile")]);
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerInstrument([tensile, ZERO], { account: wallets.manufacturer.account }), ledger, "InstrumentExists", [tensile]);
    // Another member's instrument id is no obstacle: the lab's tensile-1 is the lab's.
    await ledger.write.registerInstrument([tensile, ZERO], { account: wallets.lab.account });
    assert.equal((await ledger.read.instrumentOf([lab, tensile])).owner.toLowerCase(), lab.toLowerCase());
    await viem.assertions.revertWithCustomError(ledger.write.registerInstrument([ZERO, ZERO], { account: wallets.lab.account }), ledger, "InstrumentZeroId");
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerInstrument([id("x"), ZERO], { account: wallets.outsider.account }), ledger, "InstrumentNotActiveMember", [wallets.outsider.account.address]);
  });

  it("registers a calibration only from an anchored certificate naming the caller's instrument, with its window", async () => {
    const f = await networkHelpers.loadFixture(fixture);
    const { ledger, wallets, instrumentId, now } = f;
    const lab = wallets.lab.account.address;
    const cal = wallets.calLab.account.address;
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerCalibration([instrumentId, cal, id("not anchored")], { account: wallets.lab.account }), ledger, "CalibrationCertificateNotAnchored", [id("not anchored")]);
    // An anchored record of another type is not a certificate; nor a certificate anchored without terms.
    const elRecord = f.header();
    await ledger.write.anchor([RecordType.EL_IMAGE, elRecord], { account: wallets.lab.account });
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerCalibration([instrumentId, lab, elRecord.recordId], { account: wallets.lab.account }), ledger, "CalibrationCertificateNotAnchored", [elRecord.recordId]);
    const bare = f.header({ recordId: id("record:bare-certificate"), instrumentId: f.referenceId, calibrationDigest: f.nmiCertificate });
    await ledger.write.anchor([RecordType.CALIBRATION_CERTIFICATE, bare], { account: wallets.calLab.account });
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerCalibration([instrumentId, cal, bare.recordId], { account: wallets.lab.account }), ledger, "CalibrationCertificateNotAnchored", [bare.recordId]);
    // A certificate registered once cannot be registered again for the same instrument.
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerCalibration([instrumentId, cal, f.certificateId], { account: wallets.lab.account }), ledger, "CalibrationExists", [f.certificateId]);
    // A fresh certificate, anchored by the calibration lab with its terms.
    const from = Number(now - DAY);
    const until = Number(now + 300n * DAY);
    const cert = f.header({ recordId: id("record:calibration-certificate-9"), instrumentId: f.referenceId, calibrationDigest: f.nmiCertificate });
    await viem.assertions.emitWithArgs(
      ledger.write.anchorCalibration([cert, { instrumentId, owner: lab, validFrom: from, validUntil: until }], { account: wallets.calLab.account }),
      ledger,
      "CalibrationCertified",
      [cert.recordId, cal, lab, instrumentId, from, until],
    );
    const terms = await ledger.read.certificateOf([cal, cert.recordId]);
    assert.equal(terms.validFrom, from);
    assert.equal(terms.owner.toLowerCase(), lab.toLowerCase());
    // Not registrable by anyone but the owner it names, nor on another instrument of the owner's.
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerCalibration([f.referenceId, cal, cert.recordId], { account: wallets.calLab.account }), ledger, "CalibrationNotForInstrument", [cert.recordId, getAddress(lab), instrumentId]);
    const other = id("instrument:other");
    await ledger.write.registerInstrument([other, ZERO], { account: wallets.lab.account });
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerCalibration([other, cal, cert.recordId], { account: wallets.lab.account }), ledger, "CalibrationNotForInstrument", [cert.recordId, getAddress(lab), instrumentId]);
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerCalibration([id("unknown"), cal, cert.recordId], { account: wallets.lab.account }), ledger, "InstrumentUnknown", [id("unknown"), getAddress(lab)]);
    await viem.assertions.emitWithArgs(ledger.write.registerCalibration([instrumentId, cal, cert.recordId], { account: wallets.lab.account }), ledger, "CalibrationRegistered", [instrumentId, getAddress(lab), cert.recordId, from, until, false]);
    assert.deepEqual(await ledger.read.calibrationHistory([lab, instrumentId]), [f.certificateId, cert.recordId]);
    assert.equal(await ledger.read.isCalibratedAt([lab, instrumentId, cert.recordId, BigInt(from)]), true);
    assert.equal(await ledger.read.isCalibratedAt([lab, instrumentId, cert.recordId, BigInt(from - 1)]), false);
    assert.equal(await ledger.read.isCalibratedAt([lab, instrumentId, cert.recordId, BigInt(until + 1)]), false);
    const c = await ledger.read.calibrationOf([lab, instrumentId, cert.recordId]);
    assert.equal(c.validFrom, from);
    assert.equal(c.external_, false);
  });

  it("refuses calibration terms that name no instrument or owner, or an empty window, and an unaccredited issuer", async () => {
    const f = await networkHelpers.loadFixture(fixture);
    const { ledger, wallets, instrumentId, now } = f;
    const lab = wallets.lab.account.address;
    const cert = () => f.header({ recordId: id(`record:cert:${Math.random()}`), instrumentId: f.referenceId, calibrationDigest: f.nmiCertificate });
    const from = Number(now - DAY);
    for (const terms of [
      { instrumentId: ZERO, owner: lab, validFrom: from, validUntil: from + 10 },
      { instrumentId, owner: "0x0000000000000000000000000000000000000000" as const, validFrom: from, validUntil: from + 10 },
      { instrumentId, owner: lab, validFrom: 0, validUntil: from },
      { instrumentId, owner: lab, validFrom: from, validUntil: from },
    ]) {
      const h = cert();
      await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.anchorCalibration([h, terms], { account: wallets.calLab.account }), ledger, "QualityLedgerInvalidCalibrationTerms", [h.recordId, terms.instrumentId, getAddress(terms.owner)]);
    }
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.anchorCalibration([f.header(), { instrumentId, owner: lab, validFrom: from, validUntil: from + 10 }], { account: wallets.lab.account }), ledger, "QualityLedgerSubmitterNotAccredited", [getAddress(lab), RecordType.CALIBRATION_CERTIFICATE]);
  });

  it("refuses a revoked certificate as a calibration", async () => {
    const f = await networkHelpers.loadFixture(fixture);
    const cal = f.wallets.calLab.account.address;
    const lab = f.wallets.lab.account.address;
    const cert = f.header({ recordId: id("record:calibration-certificate-r"), instrumentId: f.referenceId, calibrationDigest: f.nmiCertificate });
    await f.ledger.write.anchorCalibration([cert, { instrumentId: f.instrumentId, owner: lab, validFrom: Number(f.now - DAY), validUntil: Number(f.now + DAY) }], { account: f.wallets.calLab.account });
    await f.ledger.write.revoke([cal, cert.recordId, ZERO], { account: f.wallets.calLab.account });
    await viem.assertions.revertWithCustomErrorWithArgs(f.ledger.write.registerCalibration([f.instrumentId, cal, cert.recordId], { account: f.wallets.lab.account }), f.ledger, "CalibrationCertificateNotAnchored", [cert.recordId]);
  });

  it("lets only a reference body declare a traceability root, for its own primary standard", async () => {
    const f = await networkHelpers.loadFixture(fixture);
    const { ledger, registry, wallets, now } = f;
    const nmi = getAddress(wallets.nmi.account.address);
    const primary = await ledger.read.calibrationOf([nmi, f.primaryId, f.primaryDeclaration]);
    assert.equal(primary.external_, true);
    assert.equal(BigInt(primary.validFrom), now - 60n * DAY);
    const second = id("instrument:NMI-primary-2");
    await ledger.write.registerInstrument([second, ZERO], { account: wallets.nmi.account });
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerReferenceCalibration([second, ZERO, Number(now), Number(now + DAY)], { account: wallets.nmi.account }), ledger, "CalibrationCertificateNotAnchored", [ZERO]);
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerReferenceCalibration([second, id("NMI-y"), Number(now + DAY), Number(now)], { account: wallets.nmi.account }), ledger, "CalibrationInvalidWindow", [Number(now + DAY), Number(now)]);
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerReferenceCalibration([second, id("NMI-y"), 0, Number(now)], { account: wallets.nmi.account }), ledger, "CalibrationInvalidWindow", [0, Number(now)]);
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerReferenceCalibration([f.primaryId, f.primaryDeclaration, Number(now), Number(now + DAY)], { account: wallets.nmi.account }), ledger, "CalibrationExists", [f.primaryDeclaration]);
    // Instruments are keyed by owner: the calibration lab's reference standard is no instrument of the body's.
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerReferenceCalibration([f.referenceId, id("NMI-z"), Number(now), Number(now + DAY)], { account: wallets.nmi.account }), ledger, "InstrumentUnknown", [f.referenceId, nmi]);
    await viem.assertions.emitWithArgs(
      ledger.write.registerReferenceCalibration([second, id("NMI-y"), Number(now), Number(now + DAY)], { account: wallets.nmi.account }),
      ledger,
      "CalibrationRegistered",
      [second, nmi, id("NMI-y"), Number(now), Number(now + DAY), true],
    );
    // A reference body suspended by vote declares nothing more.
    await registry.write.proposeSuspension([nmi, id("cause")], { account: wallets.regulator.account });
    const pid = await registry.read.proposalCount();
    for (const w of [wallets.lab, wallets.calLab, wallets.manufacturer, wallets.auditor]) await registry.write.vote([pid], { account: w.account });
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerReferenceCalibration([second, id("NMI-w"), Number(now), Number(now + DAY)], { account: wallets.nmi.account }), ledger, "InstrumentNotActiveMember", [nmi]);
  });

  it("lets a reference body admitted by vote (the governance decision) declare its primary standards", async () => {
    const f = await networkHelpers.loadFixture(fixture);
    const { ledger, registry, now } = f;
    const body = await freshAccount(connection);
    const standard = id("instrument:NMI-2-primary");
    const args = [standard, id("declaration:NMI-2-primary"), Number(now), Number(now + 365n * DAY)] as const;
    await assertRawRevert(connection, body, ledger, "registerReferenceCalibration", args, "InstrumentNotActiveMember", [getAddress(body.address)]);
    await admitByVote(f, body.address, Roles.LAB | Roles.REFERENCE_BODY, accreditation([RecordType.CALIBRATION_CERTIFICATE], now + 365n * DAY, "CNAS L0777"), text32("NMI-2"));
    assert.equal((await registry.read.memberOf([body.address])).roles, Roles.LAB | Roles.REFERENCE_BODY);
    await sendRaw(connection, body, ledger.address, ledger.abi, "registerInstrument", [standard, ZERO]);
    await sendRaw(connection, body, ledger.address, ledger.abi, "registerReferenceCalibration", args);
    const c = await ledger.read.calibrationOf([body.address, standard, args[1]]);
    assert.equal(c.external_, true);
    assert.deepEqual([c.validFrom, c.validUntil], [args[2], args[3]]);
  });

  it("refuses a reference calibration from any member that is not a reference body, whatever the digest or window", async () => {
    const f = await networkHelpers.loadFixture(fixture);
    const { ledger, wallets, now } = f;
    const n = Number(now);
    const labStandard = id("instrument:lab-standard");
    await ledger.write.registerInstrument([labStandard, ZERO], { account: wallets.lab.account });
    const cases = [
      [f.referenceId, id("certificate:NMI-2026-001"), n - 30 * 86_400, n + 365 * 86_400], // a plausible outside certificate
      [f.referenceId, f.nmiCertificate, n, n + 86_400], // its genuine certificate's id
      [f.referenceId, f.primaryDeclaration, n - 60 * 86_400, n + 730 * 86_400], // the body's own declaration
      [f.referenceId, id("x"), 1, 2 ** 40 - 1], // the widest window
      [f.referenceId, ZERO, n + 86_400, n], // malformed: refused for the role first
      [id("instrument:unregistered"), id("y"), n, n + 1],
    ] as const;
    // Random digests and windows as well: none is the role.
    const random = Array.from({ length: 6 }, (_, i) => {
      const from = Math.floor(Math.random() * 2 ** 39);
      return [f.referenceId, id(`random:${i}:${Math.random()}`), from, from + 1 + Math.floor(Math.random() * 2 ** 30)] as const;
    });
    // The calibration lab is active and accredited for calibration certificates; the test lab is a lab.
    for (const [account, who] of [[wallets.calLab, wallets.calLab.account.address], [wallets.lab, wallets.lab.account.address]] as const) {
      for (const [instrument, digest, from, until] of [...cases, ...random, [labStandard, id("z"), n, n + 1] as const]) {
        await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerReferenceCalibration([instrument, digest, from, until], { account: account.account }), ledger, "InstrumentNotReferenceBody", [getAddress(who)]);
      }
    }
    for (const w of [wallets.regulator, wallets.auditor, wallets.manufacturer, wallets.agent1]) {
      await ledger.write.registerInstrument([id("instrument:own"), ZERO], { account: w.account });
      await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerReferenceCalibration([id("instrument:own"), id("d"), n, n + 1], { account: w.account }), ledger, "InstrumentNotReferenceBody", [getAddress(w.account.address)]);
    }
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerReferenceCalibration([f.referenceId, id("d"), n, n + 1], { account: wallets.outsider.account }), ledger, "InstrumentNotActiveMember", [getAddress(wallets.outsider.account.address)]);
    assert.deepEqual(await ledger.read.calibrationHistory([wallets.calLab.account.address, f.referenceId]), [f.nmiCertificate]);
  });

  it("calibrates a lab's reference standard by the reference body's anchored certificate, with its window", async () => {
    const f = await networkHelpers.loadFixture(fixture);
    const { ledger, wallets, now } = f;
    const cal = getAddress(wallets.calLab.account.address);
    const nmi = getAddress(wallets.nmi.account.address);
    // The fixture's reference standard: an ordinary calibration, by the body's certificate, with its window.
    const c = await ledger.read.calibrationOf([cal, f.referenceId, f.nmiCertificate]);
    const terms = await ledger.read.certificateOf([nmi, f.nmiCertificate]);
    assert.equal(c.external_, false);
    assert.equal(getAddress(terms.owner), cal);
    assert.equal(terms.instrumentId, f.referenceId);
    assert.deepEqual([c.validFrom, c.validUntil], [terms.validFrom, terms.validUntil]);
    // A second reference standard: the body certifies it, naming its owner and the window; the lab registers it.
    const standard = id("instrument:reference-standard-2");
    const certificate = f.header({ recordId: id("record:NMI-certificate-002"), instrumentId: f.primaryId, calibrationDigest: f.primaryDeclaration });
    const [from, until] = [Number(now - DAY), Number(now + 200n * DAY)];
    await ledger.write.registerInstrument([standard, ZERO], { account: wallets.calLab.account });
    await ledger.write.anchorCalibration([certificate, { instrumentId: standard, owner: cal, validFrom: from, validUntil: until }], { account: wallets.nmi.account });
    await viem.assertions.emitWithArgs(ledger.write.registerCalibration([standard, nmi, certificate.recordId], { account: wallets.calLab.account }), ledger, "CalibrationRegistered", [standard, cal, certificate.recordId, from, until, false]);
    assert.equal(await ledger.read.isCalibratedAt([cal, standard, certificate.recordId, BigInt(until)]), true);
    assert.equal(await ledger.read.isCalibratedAt([cal, standard, certificate.recordId, BigInt(until + 1)]), false);
    // The lab certifies with it within that window, and not after it.
    const issued = f.header({ recordId: id("record:calibration-certificate-via-2"), instrumentId: standard, calibrationDigest: certificate.recordId });
    await ledger.write.anchorCalibration([issued, { instrumentId: f.instrumentId, owner: wallets.lab.account.address, validFrom: from, validUntil: until }], { account: wallets.calLab.account });
    const late = f.header({ recordId: id("record:calibration-certificate-late"), instrumentId: standard, calibrationDigest: certificate.recordId, measuredAt: BigInt(until + 1) });
    await networkHelpers.time.increaseTo(until + 2);
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.anchorCalibration([late, { instrumentId: f.instrumentId, owner: wallets.lab.account.address, validFrom: until, validUntil: until + 10 }], { account: wallets.calLab.account }), ledger, "QualityLedgerCalibrationNotValidAt", [late.recordId, BigInt(until + 1), from, until]);
    // The body revokes its certificate: the lab's reference standard stops counting.
    await viem.assertions.emitWithArgs(ledger.write.revoke([nmi, f.nmiCertificate, id("cause")], { account: wallets.nmi.account }), ledger, "CalibrationWithdrawn", [f.referenceId, cal, f.nmiCertificate]);
    const after = f.header({ recordId: id("record:calibration-certificate-after"), instrumentId: f.referenceId, calibrationDigest: f.nmiCertificate, measuredAt: BigInt(until) });
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.anchorCalibration([after, { instrumentId: f.instrumentId, owner: wallets.lab.account.address, validFrom: until, validUntil: until + 10 }], { account: wallets.calLab.account }), ledger, "QualityLedgerCalibrationWithdrawn", [after.recordId, f.nmiCertificate]);
  });
});
