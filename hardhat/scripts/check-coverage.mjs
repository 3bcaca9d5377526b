// Fails unless the line coverage of contracts/ in coverage/lcov.info reaches the threshold (default 95%).
import { readFileSync } from "node:fs";

const threshold = Number(process.argv[2] ?? 95);
const lcov = readFileSync(new URL("../coverage/lcov.info", import.meta.url), "utf8");
let file = "";
let found = 0;
let hit = 0;
const rows = [];
for (const line of lcov.split("\n")) {
  if (line.startsWith("SF:")) file = line.slice(3);
  else if (line.startsWith("LF:") && file.startsWith("contracts/")) found += Number(line.slice(3));
  else if (line.startsWith("LH:") && file.startsWith("contracts/")) {
    hit += Number(line.slice(3));
    rows.push(file);
  }
}
if (found === 0) {
  console.error("coverage: no line of contracts/ in coverage/lcov.info");
  process.exit(1);
}
const percent = (100 * hit) / found;
console.log(`coverage: ${hit}/${found} lines of contracts/ (${rows.length} files) = ${percent.toFixed(2)}% (threshold ${threshold}%)`);
process.exit(percent >= threshold ? 0 : 1);
