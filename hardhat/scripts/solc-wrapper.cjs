#!/usr/bin/env node
// A `solc` command for tools that expect a native compiler (slither via crytic-compile), backed by npm's
// solc-js: no native solc exists in the registries here, and nothing may download one.
// Supports: --version; --standard-json (stdin -> stdout); FILE --combined-json OPTS [prefix=path ...].
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const solc = require("solc");

// solc-js prints a stray SMT line on stdout; keep stdout for the JSON answer alone.
function compile(input) {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk, ...rest) => process.stderr.write(chunk, ...rest);
  try {
    return solc.compile(JSON.stringify(input), { import: findImports });
  } finally {
    process.stdout.write = write;
  }
}

let remappings = [];
function findImports(importPath) {
  let p = importPath;
  for (const { prefix, target } of remappings) {
    if (p.startsWith(prefix)) {
      p = target + p.slice(prefix.length);
      break;
    }
  }
  try {
    return { contents: fs.readFileSync(path.resolve(p), "utf8") };
  } catch {
    return { error: `File not found: ${importPath}` };
  }
}

// Print and exit once stdout has drained: exiting right after a large write cuts it at 64 KiB.
function answer(text) {
  process.stdout.write(text, () => process.exit(0));
}

const args = process.argv.slice(2);
if (args.includes("--version")) {
  answer(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
} else if (args.includes("--standard-json")) {
  const input = JSON.parse(fs.readFileSync(0, "utf8"));
  answer(compile(input));
} else if (args.includes("--combined-json")) {
  const files = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--combined-json" || a === "--allow-paths" || a === "--base-path") i++;
    else if (a.startsWith("--")) continue;
    else if (a.includes("=")) {
      const [prefix, target] = a.split("=");
      remappings.push({ prefix, target });
    } else files.push(a);
  }
  remappings.sort((x, y) => y.prefix.length - x.prefix.length);
  const sources = Object.fromEntries(files.map((f) => [f, { content: fs.readFileSync(f, "utf8") }]));
  const input = {
    language: "Solidity",
    sources,
    settings: {
      evmVersion: "cancun",
      outputSelection: {
        "*": {
          // No bytecode: analysis needs the AST, and code generation without viaIR hits "stack too deep".
          "*": ["abi", "evm.methodIdentifiers", "userdoc", "devdoc"],
          "": ["ast"],
        },
      },
    },
  };
  const out = JSON.parse(compile(input));
  const errors = (out.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length > 0) {
    process.stderr.write(errors.map((e) => e.formattedMessage).join("\n"));
    process.exit(1);
  }
  const combined = { contracts: {}, sources: {}, sourceList: Object.keys(out.sources), version: solc.version() };
  for (const [file, contracts] of Object.entries(out.contracts ?? {})) {
    for (const [name, c] of Object.entries(contracts)) {
      combined.contracts[`${file}:${name}`] = {
        abi: c.abi,
        bin: "",
        "bin-runtime": "",
        srcmap: "",
        "srcmap-runtime": "",
        hashes: c.evm.methodIdentifiers,
        userdoc: c.userdoc,
        devdoc: c.devdoc,
      };
    }
  }
  for (const [file, s] of Object.entries(out.sources)) combined.sources[file] = { AST: s.ast, id: s.id };
  answer(JSON.stringify(combined));
} else {
  process.stderr.write("usage: solc-wrapper --version | --standard-json | FILE --combined-json OPTS\n");
  process.exit(2);
}
