// Shared deployment for the contract tests: a small consortium with a reference body (a national metrology
// institute) with a primary standard, one calibration lab whose reference standard the reference body
// calibrates, one accredited test lab, a regulator, an auditor, escrow agents and an outsider.
import type { NetworkConnection } from "hardhat/types/network";
import { type Hex, keccak256, stringToHex, toHex } from "viem";
import type { PrivateKeyAccount } from "viem/accounts";

import { sendRaw } from "./raw.js";

export const Roles = { LAB: 1, MANUFACTURER: 2, REGULATOR: 4, AUDITOR: 8, ESCROW_AGENT: 16, REFERENCE_BODY: 32 } as const;
export const RecordType = {
  CALIBRATION_CERTIFICATE: 1,
  EL_IMAGE: 2,
  TENSILE_TEST: 3,
  XRF_ANALYSIS: 4,
  AI_INSPECTION: 5,
  HUMAN_REVIEW: 6,
} as const;
export const Status = { None: 0, Anchored: 1, Revoked: 2, Superseded: 3 } as const;
export const MemberStatus = { None: 0, Active: 1, Suspended: 2 } as const;
export const RecallConfirmation = { RegulatorAlone: 0, MemberQuorum: 1 } as const;
export const DAY = 86_400n;
export const ZERO = `0x${"00".repeat(32)}` as Hex;

export function scope(...types: number[]): bigint {
  return types.reduce((mask, t) => mask | (1n << BigInt(t)), 0n);
}

export function id(label: string): Hex {
  return keccak256(stringToHex(label));
}

export function text32(s: string): Hex {
  return toHex(s, { size: 32 });
}

export type Header = {
  recordId: Hex;
  instrumentId: Hex;
  calibrationDigest: Hex;
  operatorId: Hex;
  measuredAt: bigint;
};

export function accreditation(types: number[], validUntil: bigint, number = "CNAS L0001") {
  return {
    body: text32("CNAS"),
    number: text32(number),
    scopeDigest: id(`scope:${number}`),
    recordTypeScope: scope(...types),
    validUntil: Number(validUntil),
  };
}

export const noAccreditation = {
  body: ZERO,
  number: ZERO,
  scopeDigest: ZERO,
  recordTypeScope: 0n,
  validUntil: 0,
};

export async function deployConsortium(
  connection: NetworkConnection,
  options: { quorumBps?: bigint; strikeThreshold?: bigint; recallConfirmation?: number } = {},
) {
  const { viem, networkHelpers } = connection;
  const wallets = await viem.getWalletClients();
  const [deployer, lab, calLab, manufacturer, regulator, auditor, agent1, agent2, agent3, outsider, nmi] = wallets;
  const now = BigInt(await networkHelpers.time.latest());
  const yearAhead = now + 365n * DAY;
  const labTypes = [
    RecordType.EL_IMAGE,
    RecordType.TENSILE_TEST,
    RecordType.XRF_ANALYSIS,
    RecordType.AI_INSPECTION,
    RecordType.HUMAN_REVIEW,
  ];
  const founders = [
    { account: lab.account.address, organisationId: text32("LAB-1"), roles: Roles.LAB, accreditation: accreditation(labTypes, yearAhead) },
    {
      account: calLab.account.address,
      organisationId: text32("CAL-1"),
      roles: Roles.LAB,
      accreditation: accreditation([RecordType.CALIBRATION_CERTIFICATE], yearAhead, "CNAS L0002"),
    },
    { account: manufacturer.account.address, organisationId: text32("MFR-1"), roles: Roles.MANUFACTURER, accreditation: noAccreditation },
    { account: regulator.account.address, organisationId: text32("REG-1"), roles: Roles.REGULATOR, accreditation: noAccreditation },
    { account: auditor.account.address, organisationId: text32("AUD-1"), roles: Roles.AUDITOR, accreditation: noAccreditation },
    { account: agent1.account.address, organisationId: text32("ESC-1"), roles: Roles.ESCROW_AGENT, accreditation: noAccreditation },
    { account: agent2.account.address, organisationId: text32("ESC-2"), roles: Roles.ESCROW_AGENT, accreditation: noAccreditation },
    { account: agent3.account.address, organisationId: text32("ESC-3"), roles: Roles.ESCROW_AGENT, accreditation: noAccreditation },
    {
      account: nmi.account.address,
      organisationId: text32("NMI-1"),
      roles: Roles.LAB | Roles.REFERENCE_BODY,
      accreditation: accreditation([RecordType.CALIBRATION_CERTIFICATE], yearAhead, "CNAS L0003"),
    },
  ];
  const registry = await viem.deployContract("ConsortiumRegistry", [
    founders,
    options.quorumBps ?? 5000n,
    options.strikeThreshold ?? 3n,
    7n * DAY,
    options.recallConfirmation ?? RecallConfirmation.RegulatorAlone,
  ]);
  const ledger = await viem.deployContract("QualityLedger", [registry.address]);
  await registry.write.bindLedger([ledger.address]);
  const recalls = await viem.deployContract("RecallRegistry", [registry.address]);

  // The reference body's primary standard: a traceability root, declared by the body itself (its role was
  // the consortium's decision to admit it as one).
  const primaryId = id("instrument:NMI-primary-standard");
  const primaryDeclaration = id("declaration:NMI-primary-standard");
  await ledger.write.registerInstrument([primaryId, id("model:primary")], { account: nmi.account });
  await ledger.write.registerReferenceCalibration(
    [primaryId, primaryDeclaration, Number(now - 60n * DAY), Number(now + 730n * DAY)],
    { account: nmi.account },
  );

  // The calibration lab's reference standard, calibrated by the reference body: a certificate it anchors
  // naming the instrument, its owner and the window, which the calibration lab then registers.
  const referenceId = id("instrument:reference-standard");
  const nmiCertificate = id("record:NMI-certificate-001");
  await ledger.write.registerInstrument([referenceId, id("model:reference")], { account: calLab.account });
  await ledger.write.anchorCalibration(
    [
      { recordId: nmiCertificate, instrumentId: primaryId, calibrationDigest: primaryDeclaration, operatorId: id("operator:nmi-1"), measuredAt: now - 31n * DAY },
      { instrumentId: referenceId, owner: calLab.account.address, validFrom: Number(now - 30n * DAY), validUntil: Number(yearAhead) },
    ],
    { account: nmi.account },
  );
  await ledger.write.registerCalibration([referenceId, nmi.account.address, nmiCertificate], { account: calLab.account });

  // The calibration lab certifies the test lab's instrument: an anchored calibration_certificate record
  // naming the instrument, its owner and the window, which the owner then registers.
  const instrumentId = id("instrument:EL-camera-1");
  const certificateId = id("record:calibration-certificate-1");
  const validFrom = now - 30n * DAY;
  const validUntil = now + 335n * DAY;
  await ledger.write.anchorCalibration(
    [
      { recordId: certificateId, instrumentId: referenceId, calibrationDigest: nmiCertificate, operatorId: id("operator:cal-7"), measuredAt: now - DAY },
      { instrumentId, owner: lab.account.address, validFrom: Number(validFrom), validUntil: Number(validUntil) },
    ],
    { account: calLab.account },
  );
  await ledger.write.registerInstrument([instrumentId, id("model:EL-camera")], { account: lab.account });
  await ledger.write.registerCalibration([instrumentId, calLab.account.address, certificateId], {
    account: lab.account,
  });

  let counter = 0;
  const header = (overrides: Partial<Header> = {}): Header => ({
    recordId: id(`record:${++counter}:${Math.random()}`),
    instrumentId,
    calibrationDigest: certificateId,
    operatorId: id("operator:alice"),
    measuredAt: now - 3600n,
    ...overrides,
  });

  /** A tier B batch of `count` records on the fixture's instrument, sorted by record id. */
  const batch = (count: number, overrides: Partial<Header> = {}) => {
    const headers = Array.from({ length: count }, () => header(overrides)).sort((a, b) =>
      BigInt(a.recordId) < BigInt(b.recordId) ? -1 : 1,
    );
    return toBatch(headers);
  };

  return {
    batch,
    registry,
    ledger,
    recalls,
    wallets: { deployer, lab, calLab, manufacturer, regulator, auditor, agent1, agent2, agent3, outsider, nmi },
    instrumentId,
    certificateId,
    primaryId,
    primaryDeclaration,
    referenceId,
    nmiCertificate,
    validFrom,
    validUntil,
    now,
    header,
  };
}

/** Compact tier B arguments (tables + indexed headers) for full headers, in the order given. */
export function toBatch(headers: readonly Header[]) {
  const calibrations: { instrumentId: Hex; calibrationDigest: Hex }[] = [];
  const operatorIds: Hex[] = [];
  const indexOf = <T>(table: T[], item: T, same: (a: T, b: T) => boolean) => {
    let i = table.findIndex((t) => same(t, item));
    if (i < 0) i = table.push(item) - 1;
    return i;
  };
  const compact = headers.map((h) => ({
    recordId: h.recordId,
    measuredAt: h.measuredAt,
    calibration: indexOf(
      calibrations,
      { instrumentId: h.instrumentId, calibrationDigest: h.calibrationDigest },
      (a, b) => a.instrumentId === b.instrumentId && a.calibrationDigest === b.calibrationDigest,
    ),
    operator: indexOf(operatorIds, h.operatorId, (a, b) => a === b),
  }));
  return { calibrations, operatorIds, headers: compact, recordIds: headers.map((h) => h.recordId) };
}

type Deployed = Awaited<ReturnType<typeof deployConsortium>>;

/** Admits `account` by vote of the founders (quorum 50% of 9 founders: five approvals). */
export async function admitByVote(
  f: Deployed,
  account: Hex,
  roles: number,
  accreditationOf: ReturnType<typeof accreditation> | typeof noAccreditation,
  organisationId = text32("NEW-1"),
) {
  const { registry, wallets } = f;
  const [proposer, ...voters] = [wallets.lab, wallets.calLab, wallets.manufacturer, wallets.regulator, wallets.auditor];
  await registry.write.proposeAdmission([account, organisationId, roles, accreditationOf], {
    account: proposer.account,
  });
  const proposalId = await registry.read.proposalCount();
  for (const voter of voters) {
    const p = await registry.read.proposalOf([proposalId]);
    if (p.executed) break;
    await registry.write.vote([proposalId], { account: voter.account });
  }
  return proposalId;
}

/**
 * Gives `account` an instrument of its own under the fixture's instrument id (instruments are keyed by
 * owner) with a calibration certificate from the calibration lab over the fixture's window; returns the
 * certificate id, to use as the headers' calibration digest.
 */
export async function equip(connection: NetworkConnection, f: Deployed, account: PrivateKeyAccount, label: string) {
  const certificate = id(`record:calibration-certificate:${label}`);
  const now = BigInt(await connection.networkHelpers.time.latest());
  await f.ledger.write.anchorCalibration(
    [
      { recordId: certificate, instrumentId: f.referenceId, calibrationDigest: f.nmiCertificate, operatorId: id("operator:cal-7"), measuredAt: now - 60n },
      { instrumentId: f.instrumentId, owner: account.address, validFrom: Number(f.validFrom), validUntil: Number(f.validUntil) },
    ],
    { account: f.wallets.calLab.account },
  );
  await sendRaw(connection, account, f.ledger.address, f.ledger.abi, "registerInstrument", [f.instrumentId, id("model:EL-camera")]);
  await sendRaw(connection, account, f.ledger.address, f.ledger.abi, "registerCalibration", [f.instrumentId, f.wallets.calLab.account.address, certificate]);
  return certificate;
}
