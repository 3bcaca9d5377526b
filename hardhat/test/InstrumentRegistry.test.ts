import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { network } from "hardhat";
import { getAddress } from "viem";

import { DAY, deployConsortium, id, RecordType, ZERO } from "../test-utils/fixture.js";

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

  it("lets only an accredited calibration lab register a traceability root for its own standard", async () => {
    const f = await networkHelpers.loadFixture(fixture);
    const { ledger, wallets, now } = f;
    const c = await ledger.read.calibrationOf([wallets.calLab.account.address, f.referenceId, f.nmiCertificate]);
    assert.equal(c.external_, true);
    const labStandard = id("instrument:lab-standard");
    await ledger.write.registerInstrument([labStandard, ZERO], { account: wallets.lab.account });
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerReferenceCalibration([labStandard, id("NMI-x"), Number(now), Number(now + DAY)], { account: wallets.lab.account }), ledger, "InstrumentNotCalibrationLab", [getAddress(wallets.lab.account.address)]);
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerReferenceCalibration([f.referenceId, ZERO, Number(now), Number(now + DAY)], { account: wallets.calLab.account }), ledger, "CalibrationCertificateNotAnchored", [ZERO]);
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerReferenceCalibration([f.referenceId, id("NMI-y"), Number(now + DAY), Number(now)], { account: wallets.calLab.account }), ledger, "CalibrationInvalidWindow", [Number(now + DAY), Number(now)]);
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerReferenceCalibration([f.referenceId, f.nmiCertificate, Number(now), Number(now + DAY)], { account: wallets.calLab.account }), ledger, "CalibrationExists", [f.nmiCertificate]);
  });
});
