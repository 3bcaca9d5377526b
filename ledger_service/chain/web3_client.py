"""The ChainClient over web3.py, shared by the embedded-EVM and JSON-RPC adapters, which differ only in their
provider and in how accounts get funds. Transactions are signed locally with the members' keys, nonces are
kept per account, and a refused call is decoded into its custom error before anything is sent.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, TypeVar, cast

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.abi import (
    event_abi_to_log_topic,
    function_abi_to_4byte_selector,
    get_abi_input_types,
    get_abi_output_types,
)
from eth_utils.crypto import keccak
from web3 import HTTPProvider, Web3
from web3._utils.events import get_event_data
from web3._utils.method_formatters import log_entry_formatter, receipt_formatter
from web3._utils.transactions import fill_transaction_defaults
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import TransactionIndexingInProgress, TransactionNotFound
from web3.logs import DISCARD
from web3.logs import DISCARD as _DISCARD
from web3.types import RPCEndpoint, TxParams

from ledger_service import merkle
from ledger_service.chain.artifacts import load_artifact
from ledger_service.chain.base import ChainClient
from ledger_service.chain.revert import decode_revert, revert_data
from ledger_service.chain.types import (
    ZERO32,
    BatchReceipt,
    ConsortiumSpec,
    Deployment,
    Header,
    OnChainStatus,
    PreparedTx,
    RecallView,
    Receipt,
)
from ledger_service.errors import ChainError, ChainUnavailable, TransactionAbandoned, TransactionFailed

T = TypeVar("T")
log = logging.getLogger("qledger.chain")
_GAS_MARGIN = 1.25
# A new transaction is signed again this often at most when another process took its cached nonce (_send_new).
NONCE_RETRIES = 4
_STATUSES_OF = keccak(text="statusesOf((address,bytes32,bytes32,bytes32[])[])")[
    :4
]  # estimates are exact on a quiet chain; the margin covers state changing in between
# How long a sent transaction may wait behind a nonce gap before the wait is given up: another thread's
# transaction with the nonce before it may not be sent yet; one signed before the chain went back never fills.
_GAP_GRACE_S = 3.0


def _text32(value: str) -> bytes:
    raw = value.encode()
    if len(raw) > 32:
        raise ChainError(f"{value!r} is longer than 32 bytes")
    return raw.ljust(32, b"\x00")


def calldata(fn: ContractFunction) -> bytes:
    """A call's transaction data, encoded by eth-abi directly: web3's argument normalisation (ENS names, hex
    strings as bytes) walks every element of a batch in Python and cost half of a 256-record anchor; our
    arguments are already bytes, ints and addresses."""
    abi = cast(Any, fn.abi)
    return function_abi_to_4byte_selector(abi) + abi_encode(get_abi_input_types(abi), fn.args)


def encode_status_queries(queries: Sequence[tuple[bytes, bytes, bytes, Sequence[bytes]]]) -> bytes:
    """ABI encoding of a `(address,bytes32,bytes32,bytes32[])[]` argument (statusesOf's): the array's offset,
    its length, each tuple's offset from the first, then each tuple (submitter as 20 bytes, record id, root,
    offset of the proof, the proof's length and nodes)."""
    word = _word
    heads, tails, offset = [], [], 32 * len(queries)
    for submitter, record_id, root, proof in queries:
        if len(submitter) != 20:
            raise ValueError("submitters are 20-byte addresses")
        if len(record_id) != 32 or len(root) != 32 or any(len(p) != 32 for p in proof):
            raise ValueError("record ids, roots and proof nodes are 32 bytes each")
        tail = b"".join((submitter.rjust(32, b"\x00"), record_id, root, word(128), word(len(proof)), *proof))
        heads.append(word(offset))
        tails.append(tail)
        offset += len(tail)
    return b"".join((word(32), word(len(queries)), *heads, *tails))


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


ZERO_ADDRESS: Final = "0x" + "00" * 20


class _Refused:
    """A request of a JSON-RPC batch that the node answered with an error (or not at all)."""

    def __repr__(self) -> str:
        return "REFUSED"


REFUSED: Final = _Refused()


@functools.cache
def _view(contract: str, name: str) -> tuple[bytes, tuple[str, ...], tuple[str, ...]]:
    """A view function of a consortium contract: its selector and its input and output ABI types (the ABI is the
    same in both builds, docs/architecture.md section 10)."""
    (abi,) = [e for e in load_artifact(contract).abi if e.get("type") == "function" and e.get("name") == name]
    fn = cast(Any, abi)
    return function_abi_to_4byte_selector(fn), tuple(get_abi_input_types(fn)), tuple(get_abi_output_types(fn))


_STANDING_EVENTS: Final = ("MemberAdmitted", "MemberSuspended", "MemberReinstated", "AccreditationUpdated")


@functools.cache
def _event(contract: str, name: str) -> tuple[Any, str]:
    """An event of a consortium contract: its ABI and its topic (keccak of its signature), as 0x-hex."""
    (abi,) = [e for e in load_artifact(contract).abi if e.get("type") == "event" and e.get("name") == name]
    return abi, "0x" + event_abi_to_log_topic(cast(Any, abi)).hex()


_WORD_TYPES: Final = re.compile(r"address|bool|bytes32|uint(8|16|32|40|64|128|256)")


def encode_static(types: Sequence[str], args: Sequence[Any]) -> bytes:
    """ABI encoding of arguments of static types only (address, bytes32, uintN), one word each: what eth-abi
    encodes, without its per-value validation (a third of the time of a batch's requests); anything else is
    left to eth-abi."""
    if len(types) != len(args) or not all(_WORD_TYPES.fullmatch(t) for t in types):
        return bytes(abi_encode(list(types), list(args)))
    out = []
    for t, v in zip(types, args, strict=True):
        if t == "address":
            raw = bytes.fromhex(str(v).removeprefix("0x"))
            if len(raw) != 20:
                raise ValueError(f"not an address: {v!r}")
            out.append(raw.rjust(32, b"\x00"))
        elif t == "bytes32":
            if not isinstance(v, bytes) or len(v) != 32:
                raise ValueError("a bytes32 argument is 32 bytes")
            out.append(v)
        else:
            out.append(int(v).to_bytes(32, "big"))  # OverflowError past 256 bits or negative
    return b"".join(out)


def decode_static(types: Sequence[str], data: bytes) -> tuple[Any, ...]:
    """ABI decoding of a function's outputs whose types are all static words (address, bool, bytes32, uintN),
    or one struct of them, as eth-abi decodes them (addresses as lower-case 0x-hex); ValueError for an answer
    eth-abi would refuse (short, a value past its type's width, a bool not 0 or 1) or might read otherwise
    (longer than the types), so that the caller reads it the ordinary way. Other types go to eth-abi."""
    struct = len(types) == 1 and types[0].startswith("(") and types[0].endswith(")")
    fields = types[0][1:-1].split(",") if struct else list(types)
    if not all(_WORD_TYPES.fullmatch(t) for t in fields):
        return tuple(abi_decode(list(types), data))
    if len(data) != 32 * len(fields):
        raise ValueError(f"{len(data)} bytes for {len(fields)} words")
    values: list[Any] = []
    for i, t in enumerate(fields):
        word = data[32 * i : 32 * i + 32]
        if t == "bytes32":
            values.append(word)
            continue
        n = int.from_bytes(word, "big")
        if t == "address":
            if n >> 160:
                raise ValueError("an address with bytes in its padding")
            values.append("0x" + word[12:].hex())
        elif t == "bool":
            if n > 1:
                raise ValueError("a bool that is not 0 or 1")
            values.append(bool(n))
        else:
            if n >> int(t[4:]):
                raise ValueError(f"a value past {t}")
            values.append(n)
    return (tuple(values),) if struct else tuple(values)


def address_bytes(account: str | None) -> bytes:
    """A checksum or plain hex address as its 20 bytes (zero for None)."""
    return bytes.fromhex((account or ZERO_ADDRESS).removeprefix("0x"))


@functools.lru_cache(maxsize=4096)
def checksum_address(account: str) -> str:
    """EIP-55 form of an address, remembered: the keccak behind it is a third of decoding a batch's answers,
    and a verification names the same few accounts again and again."""
    return str(Web3.to_checksum_address(account))


def _checksum(account: str | None) -> str:
    return checksum_address(account or ZERO_ADDRESS)


def _node_not_ready(error: Exception) -> bool:
    """A node that cannot answer for the block asked yet (restarted from its state, syncing, pruned): a
    transient unavailability to retry, not a refusal of the request."""
    text = str(error).lower()
    # anvil: "BlockOutOfRangeError: block height is 185 but requested was 184"; geth and Besu: "header not
    # found", "unknown block", "missing trie node", "world state unavailable".
    markers = ("blockoutofrange", "header not found", "unknown block", "missing trie node", "world state unavailable")
    return any(m in text for m in markers)


def _nonce_used(error: Exception) -> bool:
    text = str(error).lower()
    # anvil and geth: "nonce too low"; Besu: "NONCE_TOO_LOW"; eth-tester: "Invalid transaction nonce".
    markers = ("nonce too low", "nonce_too_low", "invalid transaction nonce", "nonce has already been used")
    return any(m in text for m in markers) or "replacement transaction" in text


def _already_known(error: Exception) -> bool:
    """The node holds the transaction already (in its pool, or mined): sending it again changes nothing."""
    text = str(error).lower()
    # anvil: "transaction already imported"; geth: "already known"; Besu: "Known transaction".
    return any(m in text for m in ("already imported", "already known", "known transaction"))


def founders_args(spec: ConsortiumSpec) -> list[tuple[Any, ...]]:
    """The ConsortiumRegistry constructor's founders, as ABI tuples."""
    out = []
    for f in spec.founders:
        a = f.accreditation
        acc = (
            (
                _text32(a.body),
                _text32(a.number),
                a.scope_digest,
                sum(1 << t for t in a.record_types),
                a.valid_until,
            )
            if a
            else (ZERO32, ZERO32, ZERO32, 0, 0)
        )
        out.append((Web3.to_checksum_address(f.account), _text32(f.organisation_id), f.roles, acc))
    return out


class Web3ChainClient(ChainClient):
    """ChainClient over a web3 provider; subclasses choose the provider."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self._accounts: dict[str, LocalAccount] = {}
        self._nonces: dict[str, int] = {}
        self._lock = threading.Lock()
        self._highest_block = 0  # the highest block a receipt came from: a head below it means the chain went back
        self.receipt_timeout_s = 120.0  # how long send_prepared waits for a transaction to be mined
        self._chain_id: int | None = None
        self.deployment: Deployment | None = None
        self._registry: Contract | None = None
        self._ledger: Contract | None = None
        self._recalls: Contract | None = None
        # The build deployed: "cancun", "london", or None to choose by the chain's own fork at deploy time.
        self.evm_version: str | None = None

    # ------------------------------------------------------------------ accounts

    def add_account(self, private_key: bytes | str) -> str:
        """Make a member's key available for signing; returns its checksum address."""
        account: LocalAccount = Account.from_key(private_key)
        self._accounts[account.address] = account
        return account.address

    def fund(self, address: str, wei: int) -> None:
        """Give `address` enough ether for gas (development chains only)."""
        raise ChainError("this chain has no faucet: fund the account on the network itself")

    # ------------------------------------------------------------------ ChainClient

    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self._rpc(lambda: self.w3.eth.chain_id)
        return self._chain_id

    def is_connected(self) -> bool:
        try:
            return bool(self.w3.is_connected())
        except Exception:
            return False

    def deploy(self, spec: ConsortiumSpec, deployer: str) -> Deployment:
        registry = self._deploy_contract(
            deployer,
            "ConsortiumRegistry",
            founders_args(spec),
            spec.quorum_bps,
            spec.strike_threshold,
            spec.voting_period_s,
            spec.recall_confirmation,
        )
        ledger = self._deploy_contract(deployer, "QualityLedger", registry)
        self._transact(deployer, self._contract("ConsortiumRegistry", registry).functions.bindLedger(ledger))
        recalls = self._deploy_contract(deployer, "RecallRegistry", registry)
        block = self._rpc(lambda: self.w3.eth.block_number)
        deployment = Deployment(self.chain_id(), registry, ledger, recalls, block)
        self.attach(deployment)
        return deployment

    def attach(self, deployment: Deployment, check_chain: bool = True) -> None:
        """Use the consortium's contracts of `deployment`; with `check_chain`, refuse a node of another chain
        (a verifier that must report an unreachable node check by check passes False and learns it there)."""
        if check_chain and deployment.chain_id != self.chain_id():
            raise ChainError(f"deployment is for chain {deployment.chain_id}, node is chain {self.chain_id()}")
        self.deployment = deployment
        self._registry = self._contract("ConsortiumRegistry", deployment.registry)
        self._ledger = self._contract("QualityLedger", deployment.ledger)
        self._recalls = self._contract("RecallRegistry", deployment.recalls)

    def register_instrument(self, sender: str, instrument_id: bytes, model_digest: bytes) -> Receipt:
        return self._transact(sender, self.ledger.functions.registerInstrument(instrument_id, model_digest))

    def register_calibration(
        self,
        sender: str,
        instrument_id: bytes,
        certificate_id: bytes,
        valid_from: int = 0,
        valid_until: int = 0,
        issuer: str | None = None,
    ) -> Receipt:
        """Register for `sender`'s instrument the calibration that `issuer`'s anchored certificate grants it.
        The window is the certificate's own (fixed when the calibration lab anchored it); `valid_from` and
        `valid_until`, when given, must agree with it."""
        if issuer is None:
            raise ChainError("register_calibration needs the issuer: the calibration lab that anchored the certificate")
        if valid_from or valid_until:
            terms = self.certificate_of(issuer, certificate_id)
            if (valid_from, valid_until) != (terms["valid_from"], terms["valid_until"]):
                raise ChainError(
                    f"the certificate's window is {terms['valid_from']}..{terms['valid_until']}, "
                    f"not {valid_from}..{valid_until}"
                )
        fn = self.ledger.functions.registerCalibration(instrument_id, _checksum(issuer), certificate_id)
        return self._transact(sender, fn)

    def certificate_of(self, issuer: str, certificate_id: bytes) -> dict[str, Any]:
        """What `issuer`'s calibration certificate certifies (owner None if it was not anchored with terms)."""
        t = self._call(self.ledger.functions.certificateOf(_checksum(issuer), certificate_id))
        owner = None if int(t[1], 16) == 0 else str(t[1])
        return {"instrument_id": bytes(t[0]), "owner": owner, "valid_from": int(t[2]), "valid_until": int(t[3])}

    # ---------------------------------------------------------------- recalls

    def open_recall(self, sender: str, scope_kind: int, scope: bytes, reason: bytes) -> tuple[int, Receipt]:
        """Open a recall as regulator `sender`; returns its id (from the RecallOpened event) and the receipt."""
        receipt = self._transact(sender, self.recalls.functions.openRecall(scope_kind, scope, reason))
        full = self._rpc(lambda: self.w3.eth.get_transaction_receipt(receipt.tx_hash))  # type: ignore[arg-type]
        (opened,) = self.recalls.events.RecallOpened().process_receipt(full, errors=DISCARD)
        return int(opened["args"]["recallId"]), receipt

    def approve_recall(self, sender: str, recall_id: int) -> Receipt:
        return self._transact(sender, self.recalls.functions.approveRecall(recall_id))

    def close_recall(self, sender: str, recall_id: int, reason: bytes) -> Receipt:
        return self._transact(sender, self.recalls.functions.closeRecall(recall_id, reason))

    def post_release(self, sender: str, recall_id: int, digest: bytes, cid: str) -> Receipt:
        return self._transact(sender, self.recalls.functions.postRelease(recall_id, digest, cid))

    def recall_of(self, recall_id: int) -> RecallView:
        r = self._call(self.recalls.functions.recallOf(recall_id))
        return RecallView(
            recall_id=recall_id,
            regulator=str(r[0]),
            scope_kind=int(r[1]),
            status=int(r[2]),
            opened_at=int(r[4]),
            confirmed_at=int(r[5]),
            closed_at=int(r[6]),
            approvals=int(r[8]),
            releases=int(r[9]),
            scope=bytes(r[10]),
            reason=bytes(r[11]),
        )

    def recall_count(self) -> int:
        return int(self._call(self.recalls.functions.recallCount()))

    def is_released(self, recall_id: int, agent: str, digest: bytes) -> bool:
        return bool(self._call(self.recalls.functions.isReleased(recall_id, agent, digest)))

    def recall_events(self, event: str, from_block: int, to_block: int, **filters: Any) -> list[dict[str, Any]]:
        """RecallRegistry events `event` between two blocks (inclusive), each as its args plus blockNumber and
        transactionHash, oldest first."""
        logs = self._rpc(
            lambda: getattr(self.recalls.events, event)().get_logs(
                argument_filters=filters or None, from_block=from_block, to_block=to_block
            )
        )
        return [
            {
                **dict(log["args"]),
                "blockNumber": int(log["blockNumber"]),
                "transactionHash": bytes(log["transactionHash"]),
            }
            for log in logs
        ]

    def block_number(self) -> int:
        return int(self._rpc(lambda: self.w3.eth.block_number))

    def register_reference_calibration(
        self, sender: str, instrument_id: bytes, certificate_id: bytes, valid_from: int, valid_until: int
    ) -> Receipt:
        fn = self.ledger.functions.registerReferenceCalibration(instrument_id, certificate_id, valid_from, valid_until)
        return self._transact(sender, fn)

    def anchor(self, sender: str, record_type: int, header: Header) -> Receipt:
        return self.send_prepared(self.prepare_anchor(sender, record_type, header))

    def prepare_anchor(self, sender: str, record_type: int, header: Header) -> PreparedTx:
        h = header
        fn = self.ledger.functions.anchor(
            record_type, (h.record_id, h.instrument_id, h.calibration_digest, h.operator_id, h.measured_at)
        )
        return self.prepare(sender, fn)

    def anchor_calibration(
        self, sender: str, header: Header, instrument_id: bytes, owner: str, valid_from: int, valid_until: int
    ) -> Receipt:
        """Tier A for a calibration certificate, with what it certifies: `owner`'s instrument and the window."""
        return self.send_prepared(
            self.prepare_anchor_calibration(sender, header, instrument_id, owner, valid_from, valid_until)
        )

    def prepare_anchor_calibration(
        self, sender: str, header: Header, instrument_id: bytes, owner: str, valid_from: int, valid_until: int
    ) -> PreparedTx:
        h = header
        fn = self.ledger.functions.anchorCalibration(
            (h.record_id, h.instrument_id, h.calibration_digest, h.operator_id, h.measured_at),
            (instrument_id, _checksum(owner), valid_from, valid_until),
        )
        return self.prepare(sender, fn)

    def anchor_batch(self, sender: str, record_type: int, headers: Sequence[Header]) -> BatchReceipt:
        prepared, record_ids = self.prepare_anchor_batch(sender, record_type, headers)
        return self._batch_receipt(self.send_prepared(prepared), record_ids)

    def prepare_anchor_batch(
        self, sender: str, record_type: int, headers: Sequence[Header]
    ) -> tuple[PreparedTx, tuple[bytes, ...]]:
        """The signed tier B transaction and the record ids in leaf order."""
        ordered = sorted(headers, key=lambda h: h.record_id)
        calibrations: dict[tuple[bytes, bytes], int] = {}
        operators: dict[bytes, int] = {}
        compact = []
        for h in ordered:
            c = calibrations.setdefault((h.instrument_id, h.calibration_digest), len(calibrations))
            o = operators.setdefault(h.operator_id, len(operators))
            compact.append((h.record_id, h.measured_at, c, o))
        fn = self.ledger.functions.anchorBatch(record_type, list(calibrations), list(operators), compact)
        return self.prepare(sender, fn), tuple(h.record_id for h in ordered)

    def anchor_root(self, sender: str, record_ids: Sequence[bytes], schema: bytes) -> BatchReceipt:
        ids = tuple(record_ids)
        return self._batch_receipt(self._send_new(lambda: self.prepare_anchor_root(sender, ids, schema)), ids)

    def prepare_anchor_root(self, sender: str, record_ids: Sequence[bytes], schema: bytes) -> PreparedTx:
        ids = tuple(record_ids)
        return self.prepare(sender, self.ledger.functions.anchorRoot(merkle.root(ids), len(ids), schema))

    def revoke(
        self,
        sender: str,
        record_id: bytes,
        reason: bytes,
        root: bytes | None = None,
        proof: Sequence[bytes] = (),
        submitter: str | None = None,
    ) -> Receipt:
        """Revoke `submitter`'s record (the sender's own by default; another member's only as a regulator or
        auditor, for cause)."""
        owner = _checksum(submitter or sender)
        if root is None:
            return self._transact(sender, self.ledger.functions.revoke(owner, record_id, reason))
        fn = self.ledger.functions.revokeBatched(owner, root, record_id, list(proof), reason)
        return self._transact(sender, fn)

    def supersede(self, sender: str, record_id: bytes, replacement_id: bytes, reason: bytes) -> Receipt:
        return self._transact(sender, self.ledger.functions.supersede(record_id, replacement_id, reason))

    def status(
        self,
        record_id: bytes,
        root: bytes | None = None,
        proof: Sequence[bytes] = (),
        submitter: str | None = None,
    ) -> OnChainStatus:
        """The status of `submitter`'s record (state is keyed by submitter: another member's anchor of the same
        digest is another record); NONE without a submitter."""
        raw = self._call(self.ledger.functions.statusOf((_checksum(submitter), record_id, root or ZERO32, list(proof))))
        return OnChainStatus(raw)

    def superseded_by(self, record_id: bytes, submitter: str | None = None) -> bytes:
        """The record of `submitter`'s that superseded its `record_id` (zero if none)."""
        return bytes(self._call(self.ledger.functions.supersededBy(_checksum(submitter), record_id)))

    def member_account(self, member_id: str) -> str | None:
        """The account the registry admitted under organisation id `member_id` (None if none)."""
        try:
            key = _text32(member_id)
        except ChainError:
            return None
        account = str(self._call(self.registry.functions.accountOf(key)))
        return None if int(account, 16) == 0 else account

    def batch_call(self, requests: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Send `requests` (method, params) as one JSON-RPC batch, one HTTP round trip, through the provider's
        own request path (a FailoverHTTPProvider's failover included); each answer's raw `result` in order, or
        REFUSED for a request the node answered with an error. ChainUnavailable when no node answers,
        ChainError where the provider takes no batch (the in-process EVM) or the node answers it otherwise."""
        provider = self.w3.provider
        if not isinstance(provider, HTTPProvider):
            raise ChainError("this chain's provider takes no JSON-RPC batch")
        body = json.dumps(
            [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(requests)]
        ).encode()
        raw = self._rpc(lambda: provider._make_request(RPCEndpoint("batch"), body))
        try:
            answers = json.loads(raw)
        except ValueError:
            raise ChainError("the node's answer to a JSON-RPC batch is not JSON") from None
        if not isinstance(answers, list):
            raise ChainError("the node answered a JSON-RPC batch with one error")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        out = []
        for i in range(len(requests)):
            answer = by_id.get(i)
            out.append(REFUSED if answer is None or "error" in answer or "result" not in answer else answer["result"])
        return out

    # ------------------------------------------------------------------ contracts

    @property
    def registry(self) -> Contract:
        return self._require(self._registry)

    @property
    def ledger(self) -> Contract:
        return self._require(self._ledger)

    @property
    def recalls(self) -> Contract:
        return self._require(self._recalls)

    @staticmethod
    def _require(contract: Contract | None) -> Contract:
        if contract is None:
            raise ChainError("no consortium deployment attached: deploy or attach first")
        return contract

    def _contract(self, name: str, address: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)

    # ------------------------------------------------------------------ transactions

    def _rpc(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except (ConnectionError, OSError, TimeoutError) as error:
            raise ChainUnavailable(f"chain node unreachable: {error}") from error

    def _call(self, fn: ContractFunction) -> Any:
        try:
            return self._rpc(fn.call)
        except ChainUnavailable:
            raise
        except Exception as error:
            raise self._refusal(error) from error

    def _refusal(self, error: Exception) -> ChainError:
        data = revert_data(error)
        if data is not None:
            try:
                return decode_revert(data)
            except ChainError:
                pass
        if isinstance(error, ChainError):
            return error
        if _node_not_ready(error):
            return ChainUnavailable(f"chain node not ready: {error}")
        return ChainError(f"chain call failed: {error}")

    def _next_nonce(self, address: str) -> int:
        with self._lock:
            if address not in self._nonces:
                checksum = Web3.to_checksum_address(address)
                self._nonces[address] = self._rpc(lambda: self.w3.eth.get_transaction_count(checksum, "pending"))
            nonce = self._nonces[address]
            self._nonces[address] = nonce + 1
            return nonce

    def _forget_nonce(self, address: str) -> None:
        with self._lock:
            self._nonces.pop(address, None)

    def reset_nonces(self) -> None:
        """Forget every cached nonce: each account's next one is read again from the chain ("pending"). For a
        chain that went back (a node restarted from older state, a reorg), where cached nonces run ahead of it
        and a transaction signed with one would wait forever behind the gap."""
        with self._lock:
            self._nonces.clear()

    def pending_nonce(self, address: str) -> int:
        """The next nonce the node would take from `address`: its mined transactions and those in its pool that
        could be mined next (a transaction behind a nonce gap does not count)."""
        checksum = Web3.to_checksum_address(address)
        return int(self._rpc(lambda: self.w3.eth.get_transaction_count(checksum, "pending")))

    def knows_transaction(self, tx_hash: bytes) -> bool:
        """Whether the node holds the transaction, mined or waiting in its pool."""
        try:
            self._rpc(lambda: self.w3.eth.get_transaction(tx_hash))  # type: ignore[arg-type]
        except ChainUnavailable:
            raise
        except Exception:
            return False
        return True

    def block_hash_at(self, number: int) -> bytes | None:
        """The hash of the chain's block `number` now, None when the chain is not that long."""
        try:
            block = self._rpc(lambda: self.w3.eth.get_block(number))
        except ChainUnavailable:
            raise
        except Exception as error:
            if "not found" in str(error).lower() or _node_not_ready(error):
                return None
            raise self._refusal(error) from error
        return bytes(block["hash"])

    def observe_head(self, head: int) -> bool:
        """Note the chain's head; True when it is below a block this client saw a receipt from (the chain went
        back), in which case every cached nonce is forgotten."""
        with self._lock:
            went_back = head < self._highest_block
            self._highest_block = head if went_back else self._highest_block
        if went_back:
            self.reset_nonces()
        return went_back

    def sign_message(self, sender: str, message: bytes) -> bytes:
        """`sender`'s EIP-191 signature of `message` (65 bytes r||s||v), e.g. a DID key binding."""
        from eth_account.messages import encode_defunct

        return bytes(self._signer(sender).sign_message(encode_defunct(message)).signature)

    def _signer(self, sender: str) -> LocalAccount:
        try:
            return self._accounts[Web3.to_checksum_address(sender)]
        except KeyError:
            raise ChainError(f"no key for {sender}: add_account() it first") from None

    def _sign(self, account: LocalAccount, tx: dict[str, Any]) -> PreparedTx:
        tx.setdefault("chainId", self.chain_id())
        tx["nonce"] = self._next_nonce(account.address)
        signed = account.sign_transaction(tx)
        return PreparedTx(account.address, tx["nonce"], bytes(signed.hash), bytes(signed.raw_transaction))

    def send_prepared(self, prepared: PreparedTx) -> Receipt:
        """Send a signed transaction and wait for it. Sending the same one again is harmless: a node that has
        it already, or has mined it, leads to its receipt."""
        receipt = self.submit_prepared(prepared)
        return receipt if receipt is not None else self.await_receipt(prepared)

    def submit_prepared(self, prepared: PreparedTx) -> Receipt | None:
        """Send a signed transaction without waiting for it: None once the node holds it in its pool, its
        receipt when the node had mined it already. Transactions of one sender signed with successive cached
        nonces can be submitted one after the other, each without the previous one's receipt (the anchoring
        worker's pipeline, docs/architecture.md section 4); `await_receipt` or `receipt_of` finds them mined."""
        try:
            self._rpc(lambda: self.w3.eth.send_raw_transaction(prepared.raw))
        except ChainUnavailable:
            self._forget_nonce(prepared.sender)
            raise
        except Exception as error:
            existing = self.receipt_of(prepared.tx_hash)
            if existing is not None:
                return existing
            if not _already_known(error):  # a transaction in the node's pool already: it is sent
                self._forget_nonce(prepared.sender)
                if _nonce_used(error):
                    message = f"0x{prepared.tx_hash.hex()}: its nonce went to another transaction"
                    raise TransactionAbandoned(message) from error
                raise self._refusal(error) from error
        return None

    def await_receipt(self, prepared: PreparedTx) -> Receipt:
        """The receipt of a sent transaction. A QBFT block comes every second or two, anvil mines at once: poll
        often, the call is cheap. Each second without a receipt, look whether the node still holds it and can
        mine it: one the node lost (restarted from older state while web3's retries hid the restart) or holds
        behind a nonce gap (signed with a nonce cached before the chain went back) would be waited for in vain.
        Either, and the end of `receipt_timeout_s`, raise ChainUnavailable with the nonce cache reset; the
        outbox keeps the transaction open, for recovery to find it mined, send it again or abandon it."""
        tx_hash: Any = prepared.tx_hash
        name = f"0x{prepared.tx_hash.hex()}"
        now = time.monotonic()
        deadline, look, gapped_since = now + self.receipt_timeout_s, now + 1.0, None
        while True:
            try:
                mined = self._rpc(lambda: self.w3.eth.get_transaction_receipt(tx_hash))
            except (TransactionNotFound, TransactionIndexingInProgress):
                mined = None
            if mined is not None:
                return self._receipt(mined)
            now = time.monotonic()
            if now >= deadline:
                self._forget_nonce(prepared.sender)
                raise ChainUnavailable(f"{name} not mined in {self.receipt_timeout_s:g} s")
            if now >= look:
                look = now + 1.0
                if not self.knows_transaction(prepared.tx_hash):
                    self.reset_nonces()
                    raise ChainUnavailable(f"{name}: the node no longer holds it (did the chain go back?)")
                if self.pending_nonce(prepared.sender) > prepared.nonce:
                    gapped_since = None
                elif gapped_since is None:
                    gapped_since = now
                elif now - gapped_since >= _GAP_GRACE_S:
                    self.reset_nonces()
                    raise ChainUnavailable(f"{name}: its nonce {prepared.nonce} lies beyond the sender's next")
            time.sleep(0.02)

    def anchor_receipt(self, record_id: bytes, submitter: str | None = None) -> Receipt | None:
        """The receipt of the tier A transaction in which `submitter` (any member when None) anchored
        `record_id` (found by its event), if any."""
        start = self.deployment.block if self.deployment else 0
        filters: dict[str, Any] = {"recordId": record_id}
        if submitter is not None:
            filters["submitter"] = _checksum(submitter)
        logs = self._rpc(
            lambda: self.ledger.events.RecordAnchored().get_logs(argument_filters=filters, from_block=start)
        )
        return self.receipt_of(bytes(logs[0]["transactionHash"])) if logs else None

    def receipt_of(self, tx_hash: bytes) -> Receipt | None:
        """The receipt of a mined transaction, or None if the node does not know it (yet)."""
        try:
            receipt = self._rpc(lambda: self.w3.eth.get_transaction_receipt(tx_hash))  # type: ignore[arg-type]
        except ChainUnavailable:
            raise
        except Exception:
            return None
        return self._receipt(receipt)

    def _receipt(self, receipt: Any) -> Receipt:
        tx_hash = bytes(receipt["transactionHash"])
        number = int(receipt["blockNumber"])
        with self._lock:
            self._highest_block = max(self._highest_block, number)
        if receipt["status"] != 1:
            raise TransactionFailed(f"transaction 0x{tx_hash.hex()} failed on chain")
        block_hash = bytes(receipt["blockHash"])
        block = self._rpc(lambda: self.w3.eth.get_block(receipt["blockHash"]))  # by hash: the receipt's block
        return Receipt(tx_hash, number, block["timestamp"], receipt["gasUsed"], block_hash)

    def _send(self, account: LocalAccount, tx: dict[str, Any]) -> Receipt:
        return self._send_new(lambda: self._sign(account, tx))

    def _send_new(self, prepare: Callable[[], PreparedTx]) -> Receipt:
        """Sign and send a transaction made for this call (not one the index keeps: the outbox resends those,
        service.recover). Another process that sends from the same account with a nonce cache of its own (the
        worker process of `qledger serve`, another API process, a CLI command) may have taken the nonce this
        one's cache holds: the node refuses it (TransactionAbandoned, the cached nonce forgotten), nothing of
        it is on chain, and it is signed again with the account's next nonce, NONCE_RETRIES times at most."""
        for attempt in range(NONCE_RETRIES):
            try:
                return self.send_prepared(prepare())
            except TransactionAbandoned:
                if attempt == NONCE_RETRIES - 1:
                    raise
                log.info("a nonce of this account went to another process's transaction; signing again")
        raise AssertionError("unreachable")

    def prepare(self, sender: str, fn: ContractFunction) -> PreparedTx:
        """Check a call against the chain (refusals raise TransactionReverted), then sign it; nothing is sent."""
        account = self._signer(sender)
        tx: dict[str, Any] = {"from": account.address, "to": fn.address, "data": calldata(fn)}
        try:
            gas = self._rpc(lambda: self.w3.eth.estimate_gas(cast(TxParams, tx)))
        except ChainUnavailable:
            raise
        except Exception as error:  # the node refused the call: name the contract's reason
            raise self._refusal(error) from error
        tx["gas"] = int(gas * _GAS_MARGIN)
        return self._sign(account, dict(self._rpc(lambda: fill_transaction_defaults(self.w3, cast(TxParams, tx)))))

    def _transact(self, sender: str, fn: ContractFunction) -> Receipt:
        return self._send_new(lambda: self.prepare(sender, fn))

    def chain_evm(self) -> str:
        """The contracts' build for this chain: `evm_version` if set, else "cancun" when the chain's head has
        Shanghai's withdrawals root (Shanghai and later), "london" when it has a base fee only (geth's clique)."""
        if self.evm_version is None:
            head = self._rpc(lambda: self.w3.eth.get_block("latest"))
            self.evm_version = "cancun" if "withdrawalsRoot" in head else "london"
        return self.evm_version

    def _deploy_contract(self, sender: str, name: str, *args: Any) -> str:
        account = self._signer(sender)
        artifact = load_artifact(name, self.chain_evm())
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        try:
            tx = self._rpc(lambda: factory.constructor(*args).build_transaction({"from": account.address}))
        except ChainUnavailable:
            raise
        except Exception as error:
            raise self._refusal(error) from error
        receipt = self._send(account, dict(tx))
        full = self._rpc(lambda: self.w3.eth.get_transaction_receipt(receipt.tx_hash))  # type: ignore[arg-type]
        return str(full["contractAddress"])

    def _batch_receipt(self, receipt: Receipt, record_ids: tuple[bytes, ...]) -> BatchReceipt:
        return BatchReceipt(
            receipt.tx_hash,
            receipt.block_number,
            receipt.block_time,
            receipt.gas_used,
            receipt.block_hash,
            root=merkle.root(record_ids),
            record_ids=record_ids,
        )


class ChainReader:
    """Read-only views the verifiers need, over any attached Web3ChainClient. Facts that many records share
    (a batch's transaction, a root, a calibration, a member) are read once per reader: use one reader for
    one verification sweep, a new one for the next.
    """

    def __init__(self, client: Web3ChainClient) -> None:
        self.client = client
        self._cache: dict[tuple[Any, ...], Any] = {}
        self.batch_size = 500  # requests per JSON-RPC batch of `prefetch`

    def _cached(self, key: tuple[Any, ...], read: Callable[[], T]) -> T:
        if key not in self._cache:
            self._cache[key] = read()
        return cast(T, self._cache[key])

    def status(
        self,
        record_id: bytes,
        root: bytes | None = None,
        proof: Sequence[bytes] = (),
        submitter: str | None = None,
    ) -> OnChainStatus:
        """`submitter`'s record's status; served from `prefetch_statuses` when it was fetched there."""
        who = address_bytes(submitter)
        key = ("status", who, record_id, root or ZERO32, tuple(proof))  # the key prefetch_statuses fills
        return self._cached(key, lambda: self.client.status(record_id, root, proof, submitter))

    def prefetch_statuses(
        self,
        items: Sequence[tuple[bytes, bytes | None, Sequence[bytes]] | tuple[bytes, bytes | None, Sequence[bytes], str]],
        chunk: int = 512,
    ) -> None:
        """Fetch many statuses with `statusesOf`, `chunk` records per eth_call, for a sweep of bundles; each item
        is (record id, root, proof[, submitter]). The call data is encoded here: web3's contract encoder costs
        milliseconds per record, eth_abi's validation of every element a third of the sweep."""
        to = Web3.to_checksum_address(self.client.ledger.address)
        for i in range(0, len(items), chunk):
            part = [
                (address_bytes(str(it[3]) if len(it) > 3 else None), it[0], it[1] or ZERO32, list(it[2]))
                for it in items[i : i + chunk]
            ]
            data = _STATUSES_OF + encode_status_queries(part)
            raw = self.client._rpc(lambda data=data: self.client.w3.eth.call({"to": to, "data": data}))  # type: ignore[misc]
            for (who, record_id, root, proof), status in zip(part, abi_decode(["uint8[]"], raw)[0], strict=True):
                self._cache[("status", who, record_id, root, tuple(proof))] = OnChainStatus(status)

    def prefetch_roots(self, queries: Sequence[tuple[bytes, str]]) -> None:
        """Read many (root, submitter) `rootOf` entries in one JSON-RPC batch for `root_of` to serve (a bundle's
        signature checks read four); where the node or provider takes no batch, `root_of` reads them one by
        one as before."""
        todo = [(r, s) for r, s in dict.fromkeys(queries) if ("root", s, r) not in self._cache]
        if len(todo) < 2:
            return
        fn = self.client.ledger.get_function_by_name("rootOf")
        selector = function_abi_to_4byte_selector(fn.abi)
        in_types, out_types = get_abi_input_types(fn.abi), get_abi_output_types(fn.abi)
        w3, to = self.client.w3, Web3.to_checksum_address(self.client.ledger.address)
        calls = [{"to": to, "data": "0x" + (selector + abi_encode(in_types, [_checksum(s), r])).hex()} for r, s in todo]
        try:
            with w3.batch_requests() as batch:
                for call in calls:
                    batch.add(w3.eth.call(call))  # type: ignore[arg-type]
                raws = batch.execute()
        except Exception:  # noqa: BLE001 - no batch here: the reads happen one at a time
            return
        if len(raws) != len(todo) or not all(isinstance(raw, bytes) for raw in raws):
            return
        for (r, s), raw in zip(todo, raws, strict=True):
            decoded = abi_decode(out_types, cast(bytes, raw))
            value = list(decoded[0] if len(out_types) == 1 else decoded)
            value[0] = Web3.to_checksum_address(value[0])  # as web3's contract call gives it
            self._cache[("root", s, r)] = tuple(value)

    def member_account(self, member_id: str) -> str | None:
        """The account of the member admitted under `member_id`, from the registry (None if none)."""
        return self._cached(("account", member_id), lambda: self.client.member_account(member_id))

    def record_of(self, record_id: bytes, submitter: str | None = None) -> dict[str, Any]:
        ledger = self.client.ledger
        s = self._cached(
            ("record", submitter, record_id),
            lambda: self.client._call(ledger.functions.recordOf(_checksum(submitter), record_id)),
        )
        return {"submitter": s[0], "anchored_at": s[1], "tier": s[2], "status": s[3], "record_type": s[4]}

    def certificate_of(self, issuer: str, certificate_id: bytes) -> dict[str, Any]:
        """What `issuer`'s calibration certificate certifies, as Web3ChainClient.certificate_of says."""
        ledger = self.client.ledger
        t = self._cached(
            ("certificate", issuer, certificate_id),
            lambda: self.client._call(ledger.functions.certificateOf(_checksum(issuer), certificate_id)),
        )
        owner = None if int(t[1], 16) == 0 else str(t[1])
        return {"instrument_id": bytes(t[0]), "owner": owner, "valid_from": int(t[2]), "valid_until": int(t[3])}

    def root_of(self, root: bytes, submitter: str | None = None) -> dict[str, Any]:
        ledger = self.client.ledger
        s = self._cached(
            ("root", submitter, root), lambda: self.client._call(ledger.functions.rootOf(_checksum(submitter), root))
        )
        return {"submitter": s[0], "anchored_at": s[1], "tier": s[2], "record_type": s[3], "count": s[4]}

    def member_of(self, account: str) -> dict[str, Any]:
        registry = self.client.registry
        m = self._cached(
            ("member", account),
            lambda: self.client._call(registry.functions.memberOf(Web3.to_checksum_address(account))),
        )
        return {
            "roles": m[0],
            "status": m[1],
            "strikes": m[2],
            "admitted_block": m[3],
            "accreditation_valid_until": m[4],
            "record_type_scope": m[5],
        }

    def calibration_of(self, instrument_id: bytes, certificate_id: bytes, owner: str | None = None) -> dict[str, Any]:
        """The calibration of `owner`'s instrument (instruments are keyed by owner)."""
        ledger = self.client.ledger
        c = self._cached(
            ("calibration", owner, instrument_id, certificate_id),
            lambda: self.client._call(ledger.functions.calibrationOf(_checksum(owner), instrument_id, certificate_id)),
        )
        return {
            "valid_from": c[0],
            "valid_until": c[1],
            "registered_at": c[2],
            "withdrawn": c[3],
            "external": c[4],
        }

    def anchor_events(self, tx_hash: bytes) -> list[dict[str, Any]]:
        """The ledger's anchoring events in a transaction, decoded."""
        return [e for e in self._all_anchor_events(tx_hash) if e["genuine"]]

    def foreign_anchor_events(self, tx_hash: bytes) -> list[dict[str, Any]]:
        """Events of the ledger's anchoring shape in a transaction that another contract emitted (a forger's
        copy of the contracts): they prove nothing; a verifier names them (docs/formats.md section 11)."""
        return [e for e in self._all_anchor_events(tx_hash) if not e["genuine"]]

    def _all_anchor_events(self, tx_hash: bytes) -> list[dict[str, Any]]:
        return self._cached(("events", tx_hash), lambda: self._anchor_events(tx_hash))

    def _anchor_events(self, tx_hash: bytes) -> list[dict[str, Any]]:
        try:
            receipt = self.client._rpc(lambda: self.client.w3.eth.get_transaction_receipt(tx_hash))  # type: ignore[arg-type]
        except TransactionNotFound:
            return []  # not on this chain (never, or no more: a node that lost blocks)
        return self._decoded_anchor_events(receipt)

    def _decoded_anchor_events(self, receipt: Any) -> list[dict[str, Any]]:
        ledger = self.client.ledger
        out: list[dict[str, Any]] = []
        for event in (ledger.events.RecordAnchored, ledger.events.BatchAnchored, ledger.events.RootAnchored):
            # Only the logs with the event's topic can be it (process_receipt discards the others, at the
            # cost of a failed decoding each).
            topic = _event("QualityLedger", event.event_name)[1]
            logs = [log for log in receipt["logs"] if log["topics"] and "0x" + bytes(log["topics"][0]).hex() == topic]
            for log in event().process_receipt({"logs": logs}, errors=_DISCARD):
                out.append(
                    {
                        "event": log["event"],
                        "block_hash": bytes(log["blockHash"]),
                        "block_number": int(log["blockNumber"]),
                        "log_index": int(log["logIndex"]),
                        # An event of the same shape from another contract (a forger's copy) proves nothing.
                        "genuine": str(log["address"]).lower() == str(ledger.address).lower(),
                        "emitter": str(log["address"]),
                        **dict(log["args"]),
                    }
                )
        return out

    def standing_history(self, account: str, through_block: int) -> list[dict[str, Any]]:
        """The registry's events that set `account`'s standing (admitted, suspended, reinstated) and its
        accreditation, oldest first, each with its event name, block number, log index and arguments; read
        once per reader and account up to the head, again only for a later block than that read reached."""
        key = ("standing", Web3.to_checksum_address(account))
        cached = self._cache.get(key)
        if cached is None or cached[0] < through_block:
            self._cache[key] = cached = self._standing_history(Web3.to_checksum_address(account))
        return list(cached[1])

    def _standing_history(self, account: str) -> tuple[int, list[dict[str, Any]]]:
        head = self.client.block_number()
        logs = self.client._rpc(lambda: self.client.w3.eth.get_logs(self._standing_filter(account, head)))
        return head, self._standing_events(logs)

    def _standing_filter(self, account: str, head: int) -> Any:
        """The eth_getLogs filter of the registry's four standing events of `account` (their one indexed
        argument) from block 0 to `head`: one query (the topics OR-ed), one scan of the chain for the node.
        From 0: the founders are admitted while the registry is deployed, before Deployment.block."""
        topic = "0x" + bytes.fromhex(checksum_address(account)[2:]).rjust(32, b"\x00").hex()
        return {
            "address": str(self.client.registry.address),
            "topics": [[_event("ConsortiumRegistry", name)[1] for name in _STANDING_EVENTS], topic],
            "fromBlock": 0,
            "toBlock": head,
        }

    def _standing_events(self, logs: Sequence[Any]) -> list[dict[str, Any]]:
        """The standing events among `logs` (formatted as web3 gives them), decoded, oldest first."""
        registry = self.client.registry
        names = {_event("ConsortiumRegistry", name)[1]: name for name in _STANDING_EVENTS}
        out: list[dict[str, Any]] = []
        for log in logs:
            name = names.get("0x" + bytes(log["topics"][0]).hex()) if log["topics"] else None
            if name is None or str(log["address"]).lower() != str(registry.address).lower():
                continue
            decoded = get_event_data(self.client.w3.codec, _event("ConsortiumRegistry", name)[0], log)
            out.append(
                {
                    "event": name,
                    "block_number": int(decoded["blockNumber"]),
                    "log_index": int(decoded["logIndex"]),
                    **dict(decoded["args"]),
                }
            )
        out.sort(key=lambda e: (e["block_number"], e["log_index"]))
        return out

    def block_hash(self, number: int) -> bytes:
        return bytes(self.client._rpc(lambda: self.client.w3.eth.get_block(number))["hash"])

    def recall_count(self) -> int:
        """How many recalls the RecallRegistry holds, read once per reader (a batch of certificates asks it
        for every certificate)."""
        return self._cached(("recall_count",), self.client.recall_count)

    def recall_of(self, recall_id: int) -> RecallView:
        return self._cached(("recall", recall_id), lambda: self.client.recall_of(recall_id))

    # ------------------------------------------------------------------ one batch for many reads

    def known(self, key: tuple[Any, ...]) -> tuple[bool, Any]:
        """Whether this reader holds the read `key` (a `prefetch` key), and its value if it does; never reads."""
        stored = key[:2] if key[0] == "standing" else key
        return (True, self._cache[stored]) if stored in self._cache else (False, None)

    def prefetch(self, keys: Iterable[tuple[Any, ...]]) -> int:
        """Read every key of `keys` this reader does not hold yet in one JSON-RPC batch (one round trip), for
        the readers above to serve from the cache; returns how many were read. A key names a read as the
        readers' cache does: ("account", member_id), ("root", submitter, root), ("record", submitter,
        record_id), ("status", submitter_bytes, record_id, root, proof), ("calibration", owner, instrument_id,
        certificate_id), ("member", account), ("certificate", issuer, certificate_id), ("events", tx_hash),
        ("head",) (the block number), ("standing", account, head) (standing_history read through `head`).
        Best effort, so that every reader says what it would have said alone: where the provider takes no
        batch or no node answers, nothing is kept; a request the node refuses, or whose answer does not decode,
        is not kept; the reader then asks the node itself and meets the same answer (docs/architecture.md
        section 7)."""
        todo: list[tuple[tuple[Any, ...], list[tuple[str, list[Any]]]]] = []
        for key in dict.fromkeys(keys):
            if self.known(key)[0]:
                continue
            try:
                todo.append((key, self._requests(key)))
            except (ChainError, ValueError, TypeError, IndexError, OverflowError):
                continue  # not a read this reader can make (a member id over 32 bytes): the reader will say
        done = 0
        while todo:
            chunk: list[tuple[tuple[Any, ...], list[tuple[str, list[Any]]]]] = []
            size = 0  # at most `batch_size` requests a batch: nodes cap them (geth and Besu at 1000)
            while todo and (not chunk or size + len(todo[0][1]) <= self.batch_size):
                chunk.append(todo.pop(0))
                size += len(chunk[-1][1])
            done += self._fetch(chunk)
        return done

    def _fetch(self, todo: list[tuple[tuple[Any, ...], list[tuple[str, list[Any]]]]]) -> int:
        try:
            answers = self.client.batch_call([r for _, requests in todo for r in requests])
        except Exception:  # noqa: BLE001 - no batch here, or no node: the readers ask one by one
            return 0
        done, at = 0, 0
        for key, requests in todo:
            part, at = answers[at : at + len(requests)], at + len(requests)
            if any(a is REFUSED for a in part):
                continue
            try:
                value = self._decoded(key, part)
            except Exception:  # noqa: BLE001 - an answer the reader would not take either: it asks itself
                continue
            self._cache[key[:2] if key[0] == "standing" else key] = value
            done += 1
        return done

    def _eth_call(self, contract: str, name: str, *args: Any) -> tuple[str, list[Any]]:
        selector, inputs, _ = _view(contract, name)
        address = self.client.registry.address if contract == "ConsortiumRegistry" else self.client.ledger.address
        data = "0x" + (selector + encode_static(inputs, args)).hex()
        return "eth_call", [{"to": str(address), "data": data}, "latest"]

    def _requests(self, key: tuple[Any, ...]) -> list[tuple[str, list[Any]]]:
        kind, args = key[0], key[1:]
        if kind == "account":
            return [self._eth_call("ConsortiumRegistry", "accountOf", _text32(str(args[0])))]
        if kind == "member":
            return [self._eth_call("ConsortiumRegistry", "memberOf", _checksum(args[0]))]
        if kind in ("root", "record", "certificate"):
            name = {"root": "rootOf", "record": "recordOf", "certificate": "certificateOf"}[kind]
            return [self._eth_call("QualityLedger", name, _checksum(args[0]), args[1])]
        if kind == "calibration":
            return [self._eth_call("QualityLedger", "calibrationOf", _checksum(args[0]), args[1], args[2])]
        if kind == "status":
            who, record_id, root, proof = args  # statusOf's one tuple argument, as statusesOf's of one
            selector = _view("QualityLedger", "statusOf")[0]
            data = selector + _word(32) + encode_status_queries([(bytes(who), record_id, root, list(proof))])[96:]
            return [("eth_call", [{"to": str(self.client.ledger.address), "data": "0x" + data.hex()}, "latest"])]
        if kind == "events":
            return [("eth_getTransactionReceipt", ["0x" + bytes(args[0]).hex()])]
        if kind == "head":
            return [("eth_blockNumber", [])]
        if kind == "standing":
            params = dict(self._standing_filter(str(args[0]), int(args[1])))
            params.update(fromBlock=hex(params["fromBlock"]), toBlock=hex(params["toBlock"]))
            return [("eth_getLogs", [params])]
        raise ValueError(f"no such read {kind!r}")

    def _decoded(self, key: tuple[Any, ...], answers: list[Any]) -> Any:
        """A batch's answers to the requests of `key`, as the reader's own read caches them."""
        kind = key[0]
        if kind == "events":
            return [] if answers[0] is None else self._decoded_anchor_events(receipt_formatter(answers[0]))
        if kind == "head":
            return int(answers[0], 16)
        if kind == "standing":
            return int(key[2]), self._standing_events([log_entry_formatter(log) for log in answers[0]])
        contract = "ConsortiumRegistry" if kind in ("account", "member") else "QualityLedger"
        name = {"account": "accountOf", "member": "memberOf", "root": "rootOf", "record": "recordOf",
                "certificate": "certificateOf", "calibration": "calibrationOf", "status": "statusOf"}[kind]  # fmt: skip
        (value,) = decode_static(_view(contract, name)[2], bytes.fromhex(str(answers[0]).removeprefix("0x")))
        if kind == "account":
            account = checksum_address(value)
            return None if int(account, 16) == 0 else account
        if kind == "status":
            return OnChainStatus(value)
        out = list(value)  # a struct, as web3's contract call gives it: addresses checksummed
        slot = {"root": 0, "record": 0, "certificate": 1}.get(kind)
        if slot is not None:
            out[slot] = checksum_address(out[slot])
        return tuple(out)
