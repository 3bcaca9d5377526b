// OpenAttestation's verifier against a local node, one document at a time (the peer of bench/verify_peer.py):
// deploys GovTech's DocumentStore, wraps N OpenAttestation v2 documents under one Merkle root, issues the root,
// then verifies each document alone with oa-verify (document integrity and document-store status; the issuer
// identity verifiers look up DNS, which nothing here can reach). Usage: node oa_bench.mjs RPC_URL PRIVATE_KEY N
// Prints {"n", "valid", "per_s", "requests"}.
import {createRequire} from 'node:module';
const require = createRequire(import.meta.url);
const {ethers} = require('ethers');
const {DocumentStoreFactory} = require('@govtechsg/document-store');
const {wrapDocuments} = require('@govtechsg/open-attestation');
const {verificationBuilder, openAttestationHash, openAttestationEthereumDocumentStoreStatus, isValid} =
  require('@govtechsg/oa-verify');

const [rpc, key, count] = process.argv.slice(2);
const n = parseInt(count, 10);
let requests = 0;
class Counting extends ethers.providers.StaticJsonRpcProvider {
  send(method, params) { requests += 1; return super.send(method, params); }
}
const provider = new Counting(rpc);
const wallet = new ethers.Wallet(key, provider);
const store = await new DocumentStoreFactory(wallet).deploy('qledger bench', wallet.address);
await store.deployed();
const raw = Array.from({length: n}, (_, i) => ({
  $template: {name: 'main', type: 'EMBEDDED_RENDERER', url: 'https://renderer.lab.test'},
  issuers: [{name: 'LAB-SZ laboratory', documentStore: store.address,
    identityProof: {type: 'DNS-TXT', location: 'lab.test'}}],
  recipient: {name: `customer ${i}`},
  results: {specimen: `SP-${i}`, rm_mpa: 500 + (i % 40)},
}));
const wrapped = wrapDocuments(raw);
await (await store.issue('0x' + wrapped[0].signature.merkleRoot)).wait();
const verify = verificationBuilder([openAttestationHash, openAttestationEthereumDocumentStoreStatus], {provider});
requests = 0;
const start = performance.now();
let valid = 0;
for (const doc of wrapped) {
  const fragments = await verify(doc);
  if (isValid(fragments, ['DOCUMENT_INTEGRITY', 'DOCUMENT_STATUS'])) valid += 1;
}
const seconds = (performance.now() - start) / 1000;
process.stdout.write(JSON.stringify({n, valid, per_s: n / seconds, requests: requests / n}) + '\n');
