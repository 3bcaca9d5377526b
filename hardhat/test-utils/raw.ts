// Transactions signed outside any qledger code, from accounts that never touched the service: the contracts
// alone must refuse a bad record.
import assert from "node:assert/strict";

import type { NetworkConnection } from "hardhat/types/network";
import {
  type Abi,
  type Address,
  type Hex,
  decodeErrorResult,
  encodeFunctionData,
  parseEther,
} from "viem";
import { generatePrivateKey, privateKeyToAccount, type PrivateKeyAccount } from "viem/accounts";

export async function freshAccount(connection: NetworkConnection): Promise<PrivateKeyAccount> {
  const account = privateKeyToAccount(generatePrivateKey());
  await connection.networkHelpers.setBalance(account.address, parseEther("10"));
  return account;
}

/** Signs a contract call locally and submits it with eth_sendRawTransaction; resolves to the receipt. */
export async function sendRaw(
  connection: NetworkConnection,
  account: PrivateKeyAccount,
  to: Address,
  abi: Abi,
  functionName: string,
  args: readonly unknown[],
) {
  const publicClient = await connection.viem.getPublicClient();
  const data = encodeFunctionData({ abi, functionName, args } as Parameters<typeof encodeFunctionData>[0]);
  const block = await publicClient.getBlock();
  const serializedTransaction = await account.signTransaction({
    type: "eip1559",
    chainId: await publicClient.getChainId(),
    nonce: await publicClient.getTransactionCount({ address: account.address }),
    to,
    data,
    gas: 3_000_000n,
    maxFeePerGas: (block.baseFeePerGas ?? 0n) * 2n + 1_000_000_000n,
    maxPriorityFeePerGas: 1_000_000_000n,
  });
  const hash = await publicClient.sendRawTransaction({ serializedTransaction });
  return publicClient.waitForTransactionReceipt({ hash });
}

function revertData(error: unknown): Hex | undefined {
  let e: unknown = error;
  for (let depth = 0; e !== undefined && e !== null && depth < 10; depth++) {
    const data = (e as { data?: unknown }).data;
    if (typeof data === "string" && data.startsWith("0x")) return data as Hex;
    if (data !== null && typeof data === "object" && typeof (data as { data?: unknown }).data === "string") {
      return (data as { data: Hex }).data;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Asserts that a raw transaction is refused with the named custom error and arguments. */
export async function assertRawRevert(
  connection: NetworkConnection,
  account: PrivateKeyAccount,
  contract: { address: Address; abi: Abi },
  functionName: string,
  args: readonly unknown[],
  errorName: string,
  errorArgs: readonly unknown[],
) {
  let failure: unknown;
  try {
    const receipt = await sendRaw(connection, account, contract.address, contract.abi, functionName, args);
    assert.fail(`${functionName} was accepted (status ${receipt.status}); expected ${errorName}`);
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    failure = error;
  }
  const data = revertData(failure);
  assert.ok(data, `no revert data in: ${String(failure)}`);
  const decoded = decodeErrorResult({ abi: contract.abi, data });
  assert.equal(decoded.errorName, errorName);
  assert.deepEqual(decoded.args ?? [], errorArgs);
}
