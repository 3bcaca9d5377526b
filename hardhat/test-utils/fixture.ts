// Shared deployment for the contract tests: a small consortium with one accredited test lab, one calibration
// lab with a reference standard, a regulator, an auditor, escrow agents and an outsider.
import type { NetworkConnection } from "hardhat/types/network";
import { type Hex, keccak256, stringToHex, toHex } from "viem";
import type { PrivateKeyAccount } from "viem/accounts";

import { sendRaw } from "./raw.js";

export const Roles = { LAB: 1, MANUFACTURER: 2, REGULATOR: 4, AUDITOR: 8, ESCROW_AGENT: 16 } as const;
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
  const [deployer, lab, calLab, manufacturer, regulator, auditor, agent1, agent2, agent3, outsider] = wallets;
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

  // The calibration lab's reference standard, traceable to a national metrology institute.
  const referenceId = id("instrument:reference-standard");
  const nmiCertificate = id("certificate:NMI-2026-001");
  await ledger.write.registerInstrument([referenceId, id("model:reference")], { account: calLab.account });
  await ledger.write.registerReferenceCalibration(
    [referenceId, nmiCertificate, Number(now - 30n * DAY), Number(yearAhead)],
    { account: calLab.account },
  );

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
    wallets: { deployer, lab, calLab, manufacturer, regulator, auditor, agent1, agent2, agent3, outsider },
    instrumentId,
    certificateId,
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

/** Admits `account` by vote of the founders (quorum 50% of 8 founders: four approvals). */
export async function admitByVote(
  f: Deployed,
  account: Hex,
  roles: number,
  accreditationOf: ReturnType<typeof accreditation> | typeof noAccreditation,
  organisationId = text32("NEW-1"),
) {
  const { registry, wallets } = f;
  const [proposer, ...voters] = [wallets.lab, wallets.calLab, wallets.manufacturer, wallets.regulator];
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
