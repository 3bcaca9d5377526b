// Reads a consortium configuration (consortium/networks/*.json) into the ConsortiumRegistry constructor's
// arguments, refusing anything malformed with a message naming the field.
import { type Address, getAddress, type Hex, isHex, toHex } from "viem";

const ROLE_BITS: Record<string, number> = { LAB: 1, MANUFACTURER: 2, REGULATOR: 4, AUDITOR: 8, ESCROW_AGENT: 16, REFERENCE_BODY: 32 };
// NOTE: record type codes are shared with contracts/common/Types.sol and the ledger service: append only.
export const RECORD_TYPE_CODES: Record<string, number> = {
  calibration_certificate: 1,
  el_image: 2,
  tensile_test: 3,
  xrf_analysis: 4,
  ai_inspection: 5,
  human_review: 6,
  power_measurement: 7,
};
const POLICIES: Record<string, number> = { RegulatorAlone: 0, MemberQuorum: 1 };

type AccreditationIn = { body: string; number: string; scopeDigest: string; recordTypes: string[]; validUntil: string };
type FounderIn = { account: string; organisationId: string; roles: string[]; accreditation?: AccreditationIn };
export type ConsortiumConfig = {
  quorumBps: number;
  strikeThreshold: number;
  votingPeriodSeconds: number;
  recallConfirmation: string;
  founders: FounderIn[];
};

function text32(value: string, field: string): Hex {
  if (new TextEncoder().encode(value).length > 32) throw new Error(`${field}: longer than 32 bytes`);
  return toHex(value, { size: 32 });
}

export function constructorArgs(config: ConsortiumConfig) {
  if (!Array.isArray(config.founders) || config.founders.length === 0) throw new Error("founders: at least one");
  const founders = config.founders.map((f, i) => {
    const at = `founders[${i}]`;
    let account: Address;
    try {
      account = getAddress(f.account);
    } catch {
      throw new Error(`${at}.account: not an address`);
    }
    let roles = 0;
    for (const r of f.roles ?? []) {
      if (!(r in ROLE_BITS)) throw new Error(`${at}.roles: unknown role ${r}`);
      roles |= ROLE_BITS[r];
    }
    if (roles === 0) throw new Error(`${at}.roles: at least one role`);
    const a = f.accreditation;
    let accreditation = { body: toHex(0, { size: 32 }), number: toHex(0, { size: 32 }), scopeDigest: toHex(0, { size: 32 }), recordTypeScope: 0n, validUntil: 0 };
    if (a) {
      let scope = 0n;
      for (const t of a.recordTypes) {
        if (!(t in RECORD_TYPE_CODES)) throw new Error(`${at}.accreditation.recordTypes: unknown record type ${t}`);
        scope |= 1n << BigInt(RECORD_TYPE_CODES[t]);
      }
      const until = Date.parse(a.validUntil);
      if (Number.isNaN(until)) throw new Error(`${at}.accreditation.validUntil: not an RFC 3339 time`);
      if (!isHex(a.scopeDigest) || a.scopeDigest.length !== 66) throw new Error(`${at}.accreditation.scopeDigest: not 32 bytes hex`);
      accreditation = {
        body: text32(a.body, `${at}.accreditation.body`),
        number: text32(a.number, `${at}.accreditation.number`),
        scopeDigest: a.scopeDigest as Hex,
        recordTypeScope: scope,
        validUntil: Math.floor(until / 1000),
      };
    }
    return { account, organisationId: text32(f.organisationId, `${at}.organisationId`), roles, accreditation };
  });
  if (!(config.recallConfirmation in POLICIES)) throw new Error(`recallConfirmation: one of ${Object.keys(POLICIES).join(", ")}`);
  return [
    founders,
    BigInt(config.quorumBps),
    BigInt(config.strikeThreshold),
    BigInt(config.votingPeriodSeconds),
    POLICIES[config.recallConfirmation],
  ] as const;
}
