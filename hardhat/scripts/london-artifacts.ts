// The consortium contracts compiled for the London fork (no PUSH0 and no other Shanghai or Cancun opcode), for
// chains whose highest fork is London: geth's clique, which refuses Shanghai (docs/architecture.md, section 10).
// Same sources, same compiler and settings as Hardhat's build of contracts/ except `evmVersion`; the input is
// the one Hardhat's build wrote (its build info), so imports resolve exactly as they do there.
import { readFile } from "node:fs/promises";
import path from "node:path";

import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import solc from "solc";

import { ARTIFACTS_DIR, DEPLOYED_CONTRACTS, type ExportedArtifact } from "./contract-artifacts.js";

export const LONDON_EVM = "london";
export const LONDON_ARTIFACTS_DIR = path.join(ARTIFACTS_DIR, LONDON_EVM);

type SolcOutput = {
  errors?: { severity: string; formattedMessage: string }[];
  contracts: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>>;
};

/** Each deployed contract compiled now from contracts/ for London. Run after Hardhat's build. */
export async function londonArtifacts(hre: HardhatRuntimeEnvironment): Promise<ExportedArtifact[]> {
  const inputs = new Map<string, { input: Record<string, unknown>; names: { name: string; source: string }[] }>();
  for (const name of DEPLOYED_CONTRACTS) {
    const artifact = await hre.artifacts.readArtifact(name);
    const id = await hre.artifacts.getBuildInfoId(name);
    const file = id && (await hre.artifacts.getBuildInfoPath(id));
    if (!file) throw new Error(`no build info for ${name}: run \`npx hardhat build\` first`);
    const entry = inputs.get(file) ?? { input: JSON.parse(await readFile(file, "utf8")), names: [] };
    const buildInfo = entry.input as { input: { sources: Record<string, unknown> }; userSourceNameMap: Record<string, string> };
    const source = buildInfo.userSourceNameMap[artifact.sourceName];
    if (!source) throw new Error(`${artifact.sourceName} is not in ${file}`);
    entry.names.push({ name, source });
    inputs.set(file, entry);
  }
  const out: ExportedArtifact[] = [];
  for (const { input: buildInfo, names } of inputs.values()) {
    const input = structuredClone((buildInfo as { input: Record<string, unknown> }).input) as {
      settings: Record<string, unknown>;
      sources: unknown;
    };
    // Only the deployed contracts' code is generated (the tests' contracts are compiled for Hardhat alone).
    const outputSelection: Record<string, Record<string, string[]>> = {};
    for (const { name, source } of names) {
      outputSelection[source] = { ...(outputSelection[source] ?? {}), [name]: ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] };
    }
    input.settings = { ...input.settings, evmVersion: LONDON_EVM, outputSelection };
    // Only the deployed contracts and what they import: the build info also holds the tests' sources and
    // libraries they pull in, some of which use Cancun opcodes in assembly (OpenZeppelin's Bytes: mcopy).
    const all = input.sources as Record<string, { content: string }>;
    input.sources = Object.fromEntries(names.map(({ source }) => [source, all[source]]));
    const findImports = (name: string) => (all[name] ? { contents: all[name].content } : { error: `not found: ${name}` });
    const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports })) as SolcOutput;
    const errors = (output.errors ?? []).filter((e) => e.severity === "error");
    if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join("\n"));
    for (const { name, source } of names) {
      const compiled = output.contracts[source][name];
      const artifact = await hre.artifacts.readArtifact(name);
      out.push({
        contractName: name,
        sourceName: artifact.sourceName,
        abi: compiled.abi,
        bytecode: `0x${compiled.evm.bytecode.object}`,
        deployedBytecode: `0x${compiled.evm.deployedBytecode.object}`,
      });
    }
  }
  const order = new Map<string, number>(DEPLOYED_CONTRACTS.map((n, i) => [n, i]));
  return out.sort((a, b) => (order.get(a.contractName) ?? 0) - (order.get(b.contractName) ?? 0));
}
