// Gas per operation of qledger's three tiers beside EAS (attest, with and without an enforcing resolver;
// multiAttest; multiTimestamp) and OpenAttestation's DocumentStore (issue, bulkIssue), deployed on the same
// network in the same run. Asserts the budgets of issue #2 and records the figures in bench/RESULTS.md.
//
//   npx hardhat run scripts/gas-bench.ts        (bench/gas.sh does this)
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

import { network } from "hardhat";
import { type Abi, type Hex, encodeAbiParameters, parseAbiParameters } from "viem";

import { deployConsortium, id, RecordType } from "../test-utils/fixture.js";
import { root as merkleRoot } from "../test-utils/merkle.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const require = createRequire(import.meta.url);

const BUDGET = { tierA: 60_000n, tierBPerRecord: 5_000n, tierC: 50_000n };
const BATCH = 256;
const ROOT_LEAVES = 1024;
// EAS multiAttest costs ~280k gas per item: 256 items would not fit a 30M-gas block; per item is flat.
const EAS_MULTI = 32;

type Compiled = { abi: Abi; bytecode: Hex };

/** EAS 1.9.0 pins `pragma solidity 0.8.29`: compile it (and our resolver) with npm solc@0.8.29, offline. */
function compilePeers(): Record<string, Compiled> {
  const solc = require("solc-0.8.29");
  const resolverPath = path.join(repo, "bench/peers/CalibrationResolver.sol");
  const input = {
    language: "Solidity",
    sources: {
      "@ethereum-attestation-service/eas-contracts/contracts/EAS.sol": {
        content: readFileSync(require.resolve("@ethereum-attestation-service/eas-contracts/contracts/EAS.sol"), "utf8"),
      },
      "@ethereum-attestation-service/eas-contracts/contracts/SchemaRegistry.sol": {
        content: readFileSync(require.resolve("@ethereum-attestation-service/eas-contracts/contracts/SchemaRegistry.sol"), "utf8"),
      },
      "bench/peers/CalibrationResolver.sol": { content: readFileSync(resolverPath, "utf8") },
    },
    settings: {
      evmVersion: "cancun",
      optimizer: { enabled: true, runs: 1_000_000 },
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
    },
  };
  const findImports = (p: string) => {
    try {
      return { contents: readFileSync(require.resolve(p), "utf8") };
    } catch {
      return { error: `not found: ${p}` };
    }
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors ?? []).filter((e: { severity: string }) => e.severity === "error");
  if (errors.length > 0) throw new Error(errors.map((e: { formattedMessage: string }) => e.formattedMessage).join("\n"));
  const pick = (file: string, name: string): Compiled => {
    const c = output.contracts[file][name];
    return { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` };
  };
  return {
    SchemaRegistry: pick("@ethereum-attestation-service/eas-contracts/contracts/SchemaRegistry.sol", "SchemaRegistry"),
    EAS: pick("@ethereum-attestation-service/eas-contracts/contracts/EAS.sol", "EAS"),
    CalibrationResolver: pick("bench/peers/CalibrationResolver.sol", "CalibrationResolver"),
  };
}

/** @govtechsg/document-store 3.0.0 ships ABI and bytecode only (a typechain factory): read them out. */
function documentStore(): Compiled {
  const file = require.resolve("@govtechsg/document-store/dist/contracts/factories/contracts/DocumentStore__factory.js");
  const stub = { ContractFactory: class {}, Interface: class {}, Contract: class {} };
  const sandbox = { exports: {} as Record<string, { abi: Abi; bytecode: Hex }>, require: () => stub };
  vm.runInNewContext(readFileSync(file, "utf8"), sandbox);
  const factory = sandbox.exports.DocumentStore__factory;
  return { abi: factory.abi, bytecode: factory.bytecode };
}

const connection = await network.create();
const { viem } = connection;
const publicClient = await viem.getPublicClient();
const gasOf = async (hash: Promise<Hex> | Hex) =>
  (await publicClient.waitForTransactionReceipt({ hash: await hash })).gasUsed;

// ---- qledger
const f = await deployConsortium(connection);
const lab = f.wallets.lab.account;
const tierA = await gasOf(f.ledger.write.anchor([RecordType.EL_IMAGE, f.header()], { account: lab }));
const batch = f.batch(BATCH);
const tierB = await gasOf(
  f.ledger.write.anchorBatch([RecordType.EL_IMAGE, batch.calibrations, batch.operatorIds, batch.headers], { account: lab }),
);
const leaves = Array.from({ length: ROOT_LEAVES }, (_, i) => id(`routine:${i}`));
const tierC = await gasOf(f.ledger.write.anchorRoot([merkleRoot(leaves), ROOT_LEAVES, id("schema")], { account: lab }));

// ---- EAS
const peers = compilePeers();
const [deployer] = await viem.getWalletClients();
async function deploy(c: Compiled, args: unknown[] = []) {
  const hash = await deployer.deployContract({ abi: c.abi, bytecode: c.bytecode, args });
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  return receipt.contractAddress!;
}
const schemaRegistry = await deploy(peers.SchemaRegistry);
const eas = await deploy(peers.EAS, [schemaRegistry]);
const resolver = await deploy(peers.CalibrationResolver, [eas]);
const schemaText = "bytes32 recordId,bytes32 instrumentId,bytes32 calibrationDigest,bytes32 operatorId,uint64 measuredAt,uint8 recordType";
const register = async (resolverAddress: Hex) => {
  const { result, request } = await publicClient.simulateContract({
    address: schemaRegistry, abi: peers.SchemaRegistry.abi, functionName: "register",
    args: [schemaText, resolverAddress, true], account: deployer.account,
  });
  await gasOf(deployer.writeContract(request));
  return result as Hex;
};
const plainSchema = await register("0x0000000000000000000000000000000000000000");
const enforcedSchema = await register(resolver);
const write = (address: Hex, abi: Abi, functionName: string, args: unknown[]) =>
  gasOf(deployer.writeContract({ address, abi, functionName, args, account: deployer.account, chain: undefined }));
await write(resolver, peers.CalibrationResolver.abi, "setScope", [deployer.account.address, 1n << BigInt(RecordType.EL_IMAGE)]);
await write(resolver, peers.CalibrationResolver.abi, "setWindow", [f.instrumentId, f.certificateId, Number(f.validFrom), Number(f.validUntil)]);
const attestationData = () => {
  const h = f.header();
  return {
    recipient: "0x0000000000000000000000000000000000000000",
    expirationTime: 0n,
    revocable: true,
    refUID: `0x${"00".repeat(32)}`,
    data: encodeAbiParameters(parseAbiParameters("bytes32,bytes32,bytes32,bytes32,uint64,uint8"), [
      h.recordId, h.instrumentId, h.calibrationDigest, h.operatorId, h.measuredAt, RecordType.EL_IMAGE,
    ]),
    value: 0n,
  };
};
const easAttest = await write(eas, peers.EAS.abi, "attest", [{ schema: plainSchema, data: attestationData() }]);
const easAttestResolver = await write(eas, peers.EAS.abi, "attest", [{ schema: enforcedSchema, data: attestationData() }]);
const easMulti = await write(eas, peers.EAS.abi, "multiAttest", [
  [{ schema: enforcedSchema, data: Array.from({ length: EAS_MULTI }, attestationData) }],
]);
const easTimestamp = await write(eas, peers.EAS.abi, "multiTimestamp", [Array.from({ length: 64 }, (_, i) => id(`ts:${i}`))]);

// ---- OpenAttestation DocumentStore
const ds = documentStore();
const store = await deploy(ds, ["qledger-bench", deployer.account.address]);
const dsIssue = await write(store, ds.abi, "issue", [merkleRoot(leaves)]);
const dsBulk = await write(store, ds.abi, "bulkIssue", [Array.from({ length: 64 }, (_, i) => id(`bulk:${i}`))]);

// ---- report
const perRecordB = tierB / BigInt(BATCH);
const ratio = (a: bigint, b: bigint) => (Number(a) / Number(b)).toFixed(2);
const rows: [string, string, string, string][] = [
  ["Tier A `anchor`, all checks (1 record)", `${tierA}`, `${BUDGET.tierA}`, `EAS \`attest\` ${easAttest} (x${ratio(tierA, easAttest)}); with enforcing resolver ${easAttestResolver} (x${ratio(tierA, easAttestResolver)})`],
  [`Tier B \`anchorBatch\`, all checks, per record (${BATCH})`, `${perRecordB}`, `${BUDGET.tierBPerRecord}`, `EAS \`multiAttest\` with resolver, per record at ${EAS_MULTI} ${easMulti / BigInt(EAS_MULTI)} (x${ratio(perRecordB, easMulti / BigInt(EAS_MULTI))})`],
  [`Tier C \`anchorRoot\` (root of ${ROOT_LEAVES})`, `${tierC} (${(Number(tierC) / ROOT_LEAVES).toFixed(1)}/record)`, `${BUDGET.tierC}`, `DocumentStore \`issue\` ${dsIssue} (x${ratio(tierC, dsIssue)}); \`bulkIssue\` per root ${dsBulk / 64n}; EAS \`multiTimestamp\` per hash ${easTimestamp / 64n}`],
];
const verdicts = [tierA <= BUDGET.tierA, perRecordB <= BUDGET.tierBPerRecord, tierC <= BUDGET.tierC && tierC / BigInt(ROOT_LEAVES) < 100n];
const table = [
  "| operation | qledger gas | budget | met | peers, same network, same run (qledger ÷ peer) |",
  "|---|---:|---:|:---:|---|",
  ...rows.map((r, i) => `| ${r[0]} | ${r[1]} | ${r[2]} | ${verdicts[i] ? "yes" : "NO"} | ${r[3]} |`),
].join("\n");
console.log(table);

const results = path.join(repo, "bench/RESULTS.md");
const section = [
  "<!-- gas:begin (written by bench/gas.sh) -->",
  "## Gas per operation (bench/gas.sh)",
  "",
  `Network: Hardhat EDR, hardfork cancun; qledger compiled by solc 0.8.37 (viaIR, optimizer 1,000,000 runs); EAS 1.9.0 and the enforcing resolver by solc 0.8.29 (optimizer 1,000,000 runs); DocumentStore 3.0.0 from its published bytecode. Whole-transaction gas (21,000 base included). Measured ${new Date().toISOString().slice(0, 10)}.`,
  "",
  table,
  "<!-- gas:end -->",
].join("\n");
let text = "";
try {
  text = readFileSync(results, "utf8");
} catch {
  text = "# Benchmark results\n\nEach section is rewritten by the script named in its heading.\n";
}
text = /<!-- gas:begin[\s\S]*<!-- gas:end -->/.test(text)
  ? text.replace(/<!-- gas:begin[\s\S]*<!-- gas:end -->/, section)
  : `${text.trimEnd()}\n\n${section}\n`;
writeFileSync(results, text);
if (!verdicts.every(Boolean)) {
  console.error("gas budget exceeded");
  process.exit(1);
}
