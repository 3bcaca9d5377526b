// Off-chain mirror of contracts/common/RecordMerkle.sol: leaf = keccak256(abi.encode(recordId)); nodes are
// keccak256 of the sorted pair; an odd level carries its last node up unchanged.
import { concat, keccak256, type Hex } from "viem";

export function leaf(recordId: Hex): Hex {
  return keccak256(recordId);
}

function node(a: Hex, b: Hex): Hex {
  return BigInt(a) < BigInt(b) ? keccak256(concat([a, b])) : keccak256(concat([b, a]));
}

/** Every level of the tree, leaves first. */
export function levels(recordIds: readonly Hex[]): Hex[][] {
  if (recordIds.length === 0) throw new Error("empty tree");
  const out: Hex[][] = [recordIds.map(leaf)];
  while (out[out.length - 1].length > 1) {
    const level = out[out.length - 1];
    const next: Hex[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(node(level[i], level[i + 1]));
    if (level.length % 2 === 1) next.push(level[level.length - 1]);
    out.push(next);
  }
  return out;
}

export function root(recordIds: readonly Hex[]): Hex {
  const all = levels(recordIds);
  return all[all.length - 1][0];
}

/** Sibling hashes from the leaf at `index` up to the root. */
export function proof(recordIds: readonly Hex[], index: number): Hex[] {
  const out: Hex[] = [];
  let i = index;
  for (const level of levels(recordIds).slice(0, -1)) {
    const sibling = i ^ 1;
    if (sibling < level.length) out.push(level[sibling]);
    i >>= 1;
  }
  return out;
}
