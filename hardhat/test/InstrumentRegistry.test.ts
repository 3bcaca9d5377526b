import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { network } from "hardhat";

import { DAY, deployConsortium, id, RecordType, ZERO } from "../test-utils/fixture.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;

async function fixture() {
  return deployConsortium(connection);
}

describe("InstrumentRegistry (part of QualityLedger)", () => {
  it("registers instruments owned by members and refuses duplicates, zero ids and outsiders", async () => {
    const { ledger, wallets, instrumentId } = await networkHelpers.loadFixture(fixture);
    const inst = await ledger.read.instrumentOf([instrumentId]);
    assert.equal(inst.owner.toLowerCase(), wallets.lab.account.address.toLowerCase());
    assert.equal(inst.modelDigest, id("model:EL-camera"));
    const tensile = id("instrument:tensile-1");
    await viem.assertions.emitWithArgs(ledger.write.registerInstrument([tensile, id("model:tensile")], { account: wallets.manufacturer.account }), ledger, "InstrumentRegistered", [tensile, wallets.manufacturer.account.address, id("model:tensile")]);
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerInstrument([tensile, ZERO], { account: wallets.lab.account }), ledger, "InstrumentExists", [tensile]);
    await viem.assertions.revertWithCustomError(ledger.write.registerInstrument([ZERO, ZERO], { account: wallets.lab.account }), ledger, "InstrumentZeroId");
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerInstrument([id("x"), ZERO], { account: wallets.outsider.account }), ledger, "InstrumentNotActiveMember", [wallets.outsider.account.address]);
  });

  it("transfers an instrument to another active member only, by its owner only", async () => {
    const { ledger, wallets, instrumentId } = await networkHelpers.loadFixture(fixture);
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.transferInstrument([instrumentId, wallets.manufacturer.account.address], { account: wallets.manufacturer.account }), ledger, "InstrumentNotOwner", [instrumentId, wallets.manufacturer.account.address]);
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.transferInstrument([instrumentId, wallets.outsider.account.address], { account: wallets.lab.account }), ledger, "InstrumentNotActiveMember", [wallets.outsider.account.address]);
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.transferInstrument([id("unknown"), wallets.manufacturer.account.address], { account: wallets.lab.account }), ledger, "InstrumentUnknown", [id("unknown")]);
    await viem.assertions.emitWithArgs(ledger.write.transferInstrument([instrumentId, wallets.manufacturer.account.address], { account: wallets.lab.account }), ledger, "InstrumentTransferred", [instrumentId, wallets.lab.account.address, wallets.manufacturer.account.address]);
    assert.equal((await ledger.read.instrumentOf([instrumentId])).owner.toLowerCase(), wallets.manufacturer.account.address.toLowerCase());
  });

  it("registers a calibration only against an anchored, in-force calibration_certificate record", async () => {
    const f = await networkHelpers.loadFixture(fixture);
    const { ledger, wallets, instrumentId, now } = f;
    const from = Number(now - DAY);
    const until = Number(now + 300n * DAY);
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerCalibration([instrumentId, id("not anchored"), from, until], { account: wallets.lab.account }), ledger, "CalibrationCertificateNotAnchored", [id("not anchored")]);
    // An anchored record of another type is not a certificate.
    const elRecord = f.header();
    await ledger.write.anchor([RecordType.EL_IMAGE, elRecord], { account: wallets.lab.account });
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerCalibration([instrumentId, elRecord.recordId, from, until], { account: wallets.lab.account }), ledger, "CalibrationCertificateNotAnchored", [elRecord.recordId]);
    // A certificate registered once cannot back a second calibration.
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerCalibration([instrumentId, f.certificateId, from, until], { account: wallets.lab.account }), ledger, "CalibrationExists", [f.certificateId]);
    // A fresh certificate, anchored by the calibration lab.
    const cert = f.header({ recordId: id("record:calibration-certificate-9"), instrumentId: f.referenceId, calibrationDigest: f.nmiCertificate });
    await ledger.write.anchor([RecordType.CALIBRATION_CERTIFICATE, cert], { account: wallets.calLab.account });
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerCalibration([instrumentId, cert.recordId, until, from], { account: wallets.lab.account }), ledger, "CalibrationInvalidWindow", [until, from]);
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerCalibration([instrumentId, cert.recordId, 0, until], { account: wallets.lab.account }), ledger, "CalibrationInvalidWindow", [0, until]);
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerCalibration([instrumentId, cert.recordId, from, until], { account: wallets.calLab.account }), ledger, "InstrumentNotOwner", [instrumentId, wallets.calLab.account.address]);
    await viem.assertions.emitWithArgs(ledger.write.registerCalibration([instrumentId, cert.recordId, from, until], { account: wallets.lab.account }), ledger, "CalibrationRegistered", [instrumentId, cert.recordId, from, until, false]);
    assert.deepEqual(await ledger.read.calibrationHistory([instrumentId]), [f.certificateId, cert.recordId]);
    assert.equal(await ledger.read.isCalibratedAt([instrumentId, cert.recordId, BigInt(from)]), true);
    assert.equal(await ledger.read.isCalibratedAt([instrumentId, cert.recordId, BigInt(from - 1)]), false);
    assert.equal(await ledger.read.isCalibratedAt([instrumentId, cert.recordId, BigInt(until + 1)]), false);
    const c = await ledger.read.calibrationOf([instrumentId, cert.recordId]);
    assert.equal(c.validFrom, from);
    assert.equal(c.external_, false);
  });

  it("refuses a revoked certificate as a calibration", async () => {
    const f = await networkHelpers.loadFixture(fixture);
    const cert = f.header({ recordId: id("record:calibration-certificate-r"), instrumentId: f.referenceId, calibrationDigest: f.nmiCertificate });
    await f.ledger.write.anchor([RecordType.CALIBRATION_CERTIFICATE, cert], { account: f.wallets.calLab.account });
    await f.ledger.write.revoke([cert.recordId, ZERO], { account: f.wallets.calLab.account });
    await viem.assertions.revertWithCustomErrorWithArgs(f.ledger.write.registerCalibration([f.instrumentId, cert.recordId, Number(f.now - DAY), Number(f.now + DAY)], { account: f.wallets.lab.account }), f.ledger, "CalibrationCertificateNotAnchored", [cert.recordId]);
  });

  it("lets only an accredited calibration lab register a traceability root for its own standard", async () => {
    const f = await networkHelpers.loadFixture(fixture);
    const { ledger, wallets, now } = f;
    const c = await ledger.read.calibrationOf([f.referenceId, f.nmiCertificate]);
    assert.equal(c.external_, true);
    const labStandard = id("instrument:lab-standard");
    await ledger.write.registerInstrument([labStandard, ZERO], { account: wallets.lab.account });
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerReferenceCalibration([labStandard, id("NMI-x"), Number(now), Number(now + DAY)], { account: wallets.lab.account }), ledger, "InstrumentNotCalibrationLab", [wallets.lab.account.address]);
    await viem.assertions.revertWithCustomErrorWithArgs(ledger.write.registerReferenceCalibration([f.referenceId, ZERO, Number(now), Number(now + DAY)], { account: wallets.calLab.account }), ledger, "CalibrationCertificateNotAnchored", [ZERO]);
  });
});
