// An independent verifier of a W3C verifiable credential: Digital Bazaar's @digitalbazaar/vc with the
// eddsa-jcs-2022 Data Integrity cryptosuite and the Bitstring Status List checker, entirely offline: contexts
// from ./contexts, every other document (DID documents, status list credentials) from the input file.
// Usage: node verify.mjs INPUT.json  where INPUT is {"credential": ..., "documents": {url: document}}.
// Prints {"verified": bool, "error": string|null, "statuses": [{purpose, status}], "proofs": [...]}.
import {readFileSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {createVerifyCryptosuite} from '@digitalbazaar/eddsa-jcs-2022-cryptosuite';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';

const here = dirname(fileURLToPath(import.meta.url));
const context = name => JSON.parse(readFileSync(join(here, 'contexts', name), 'utf8'));
const CONTEXTS = {
  'https://www.w3.org/ns/credentials/v2': context('credentials-v2.jsonld'),
  'https://w3id.org/security/multikey/v1': context('multikey-v1.jsonld'),
  'https://www.w3.org/ns/did/v1': context('did-v1.jsonld'),
  'https://www.w3.org/ns/credentials/status/v1': context('vc-bitstring-status-list-v1.jsonld'),
};

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const requested = [];

async function documentLoader(url) {
  requested.push(url);
  if(CONTEXTS[url]) {
    return {contextUrl: null, documentUrl: url, document: CONTEXTS[url]};
  }
  const [base] = url.split('#');
  const doc = input.documents[base];
  if(!doc) {
    throw new Error(`offline: no document for ${url}`);
  }
  if(url !== base) {  // a verification method inside a DID document
    const method = (doc.verificationMethod || []).find(m => m.id === url);
    if(!method) {
      throw new Error(`no verification method ${url}`);
    }
    return {contextUrl: null, documentUrl: url,
      document: {'@context': 'https://w3id.org/security/multikey/v1', ...method}};
  }
  return {contextUrl: null, documentUrl: url, document: doc};
}

const suite = new DataIntegrityProof({cryptosuite: createVerifyCryptosuite()});
let out;
try {
  const result = await vc.verifyCredential({
    credential: input.credential, suite, documentLoader, checkStatus,
  });
  const statuses = ((result.statusResult || {}).results || []).map(
    r => ({purpose: r.credentialStatus.statusPurpose, status: r.status}));
  const errors = [result.error, ...(result.results || []).map(r => r.error)].filter(Boolean);
  out = {
    verified: result.verified === true,
    error: errors.length ? String(errors[0].message || errors[0]) : null,
    statuses,
    proofs: (result.results || []).map(r => ({verified: r.verified, cryptosuite: r.proof?.cryptosuite})),
  };
} catch(error) {
  out = {verified: false, error: String(error.message || error), statuses: [], proofs: []};
}
out.requested = requested;
process.stdout.write(JSON.stringify(out) + '\n');
