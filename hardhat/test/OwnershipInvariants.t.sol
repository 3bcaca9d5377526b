// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CommonBase} from "forge-std/Base.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

import {QualityLedger} from "../contracts/QualityLedger.sol";
import {RecordMerkle} from "../contracts/common/RecordMerkle.sol";
import {
    BatchCalibration,
    BatchHeader,
    CalibrationTerms,
    Inclusion,
    RecordHeader,
    RecordStatus,
    RecordTypes,
    Roles
} from "../contracts/common/Types.sol";
import {ConsortiumSetup} from "./LedgerProperties.t.sol";

/// @dev A victim lab anchoring and managing its own records in every tier, and hostile members (a rogue
/// calibration lab with a reference standard of its own, and the manufacturer, both active) signing whatever the ABI allows against them: the
/// victim's digests anchored first or inside roots of their own, revocations and supersessions under every
/// root and submitter, the victim's instrument id registered on their own. The ghost state is what the
/// victim's own calls should have made of its records (docs/threat-model.md, "a hostile member").
contract OwnershipHandler is CommonBase, StdUtils {
    QualityLedger internal immutable ledger;
    address internal immutable victim;
    address[2] internal attackers;
    bytes32 internal immutable instrument;
    bytes32 internal immutable certificate;
    bytes32 internal immutable refInstrument;
    bytes32 internal immutable referenceCert;

    struct Tracked {
        bytes32 recordId;
        bytes32 root; // zero for tier A
        bytes32 sibling; // the other leaf of a two-leaf root
        RecordStatus expected;
    }

    Tracked[] internal tracked;
    uint256 public freshRefused; // the victim's fresh anchors that were refused
    uint256 internal nonce;

    constructor(
        QualityLedger ledger_,
        address victim_,
        address[2] memory attackers_,
        bytes32[4] memory ids // instrument, certificate, refInstrument, refInstrument certificate
    ) {
        (ledger, victim, attackers) = (ledger_, victim_, attackers_);
        (instrument, certificate, refInstrument, referenceCert) = (ids[0], ids[1], ids[2], ids[3]);
    }

    function trackedCount() external view returns (uint256) {
        return tracked.length;
    }

    /// The inclusion of tracked record `i` under the victim, and the status the victim's calls gave it.
    function inclusionOf(uint256 i) external view returns (Inclusion memory inc, RecordStatus expected) {
        Tracked storage t = tracked[i];
        bytes32[] memory proof = new bytes32[](t.sibling == bytes32(0) ? 0 : 1);
        if (proof.length == 1) proof[0] = RecordMerkle.leaf(t.sibling);
        return (Inclusion(victim, t.recordId, t.root, proof), t.expected);
    }

    /// The id of the victim's next fresh record: public, so attackers front-run it.
    function nextFresh() public view returns (bytes32) {
        return keccak256(abi.encode("victim", nonce + 1));
    }

    // ------------------------------------------------------------ the victim

    /// The victim anchors a fresh record in tier A, B or C; it must always succeed.
    function victimAnchor(uint8 tier) external {
        bytes32 a = nextFresh();
        ++nonce;
        vm.startPrank(victim);
        if (tier % 3 == 0) {
            try ledger.anchor(RecordTypes.EL_IMAGE, _header(a)) {
                tracked.push(Tracked(a, bytes32(0), bytes32(0), RecordStatus.Anchored));
            } catch {
                ++freshRefused;
            }
        } else if (tier % 3 == 1) {
            BatchCalibration[] memory cals = new BatchCalibration[](1);
            cals[0] = BatchCalibration(instrument, certificate);
            bytes32[] memory ops = new bytes32[](1);
            ops[0] = keccak256("operator");
            BatchHeader[] memory headers = new BatchHeader[](1);
            headers[0] = BatchHeader(a, uint64(block.timestamp - 1), 0, 0);
            try ledger.anchorBatch(RecordTypes.EL_IMAGE, cals, ops, headers) returns (bytes32 root) {
                // A batch of one: the root is the leaf, the proof empty.
                tracked.push(Tracked(a, root, bytes32(0), RecordStatus.Anchored));
                tracked[tracked.length - 1].sibling = bytes32(0);
            } catch {
                ++freshRefused;
            }
        } else {
            bytes32 b = keccak256(abi.encode(a, "sibling"));
            bytes32 root = _pair(a, b);
            try ledger.anchorRoot(root, 2, bytes32(0)) {
                tracked.push(Tracked(a, root, b, RecordStatus.Anchored));
            } catch {
                ++freshRefused;
            }
        }
        vm.stopPrank();
    }

    /// The victim revokes one of its own records.
    function victimRevoke(uint256 index) external {
        if (tracked.length == 0) return;
        Tracked storage t = tracked[index % tracked.length];
        (Inclusion memory inc,) = this.inclusionOf(index % tracked.length);
        vm.prank(victim);
        if (t.root == bytes32(0)) {
            try ledger.revoke(victim, t.recordId, "own") {
                t.expected = RecordStatus.Revoked;
            } catch {}
        } else {
            try ledger.revokeBatched(victim, t.root, t.recordId, inc.proof, "own") {
                t.expected = RecordStatus.Revoked;
            } catch {}
        }
    }

    // ------------------------------------------------------------ the attackers

    /// An attacker anchors a root of its own holding a victim's record (or the victim's next fresh id),
    /// then revokes and supersedes it under that root, under the victim, and as a replacement.
    function rootAttack(uint256 index, uint8 who, bool front) external {
        address attacker = attackers[who % 2];
        bytes32 target = front || tracked.length == 0 ? nextFresh() : tracked[index % tracked.length].recordId;
        bytes32 other = keccak256(abi.encode(target, attacker));
        bytes32 root = _pair(target, other);
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = RecordMerkle.leaf(other);
        vm.startPrank(attacker);
        try ledger.anchorRoot(root, 2, bytes32(0)) {} catch {}
        try ledger.revokeBatched(attacker, root, target, proof, "hostile") {} catch {}
        try ledger.revokeBatched(victim, root, target, proof, "hostile") {} catch {}
        try ledger.revoke(victim, target, "hostile") {} catch {}
        Inclusion memory mine = Inclusion(attacker, target, root, proof);
        Inclusion memory theirs = Inclusion(victim, target, root, proof);
        Inclusion memory replacement = Inclusion(attacker, other, root, _single(RecordMerkle.leaf(target)));
        try ledger.supersedeBatched(mine, replacement, "hostile") {} catch {}
        try ledger.supersedeBatched(theirs, replacement, "hostile") {} catch {}
        try ledger.supersedeBatched(theirs, Inclusion(victim, other, root, replacement.proof), "x") {} catch {}
        vm.stopPrank();
    }

    /// An attacker anchors a victim's digest (or next fresh id) in tier A as a certificate of its own,
    /// then revokes or supersedes it, and registers the victim's instrument id as its own.
    function directAttack(uint256 index, bool front, bool supersede) external {
        address attacker = attackers[0]; // a second calibration lab, accredited for certificates
        bytes32 target = front || tracked.length == 0 ? nextFresh() : tracked[index % tracked.length].recordId;
        vm.startPrank(attacker);
        try ledger.registerInstrument(instrument, bytes32(0)) {} catch {}
        try ledger.anchorCalibration(
            RecordHeader(target, refInstrument, referenceCert, keccak256("op"), uint64(block.timestamp - 1)),
            CalibrationTerms(instrument, victim, uint40(block.timestamp - 1 days), uint40(block.timestamp + 1 days))
        ) {} catch {}
        try ledger.anchorCalibration(
            RecordHeader(certificate, refInstrument, referenceCert, keccak256("op"), uint64(block.timestamp - 1)),
            CalibrationTerms(instrument, victim, uint40(block.timestamp - 1 days), uint40(block.timestamp + 1 days))
        ) {} catch {}
        if (supersede) {
            try ledger.supersede(target, certificate, "hostile") {} catch {}
            try ledger.supersede(certificate, target, "hostile") {} catch {}
        } else {
            try ledger.revoke(attacker, target, "hostile") {} catch {}
            try ledger.revoke(attacker, certificate, "hostile") {} catch {}
        }
        try ledger.revoke(victim, target, "hostile") {} catch {}
        vm.stopPrank();
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1, 1 hours));
        vm.roll(block.number + 1);
    }

    function _header(bytes32 id) private view returns (RecordHeader memory) {
        return RecordHeader(id, instrument, certificate, keccak256("operator"), uint64(block.timestamp - 1));
    }

    function _single(bytes32 node) private pure returns (bytes32[] memory out) {
        out = new bytes32[](1);
        out[0] = node;
    }

    function _pair(bytes32 a, bytes32 b) private pure returns (bytes32) {
        (bytes32 x, bytes32 y) = (RecordMerkle.leaf(a), RecordMerkle.leaf(b));
        return x < y ? keccak256(abi.encodePacked(x, y)) : keccak256(abi.encodePacked(y, x));
    }
}

/// @dev Issue #13, properties 1 and 2 as invariants: no sequence of other members' calls changes the status
/// of a member's record, and a member can always anchor a fresh record of its own.
contract OwnershipInvariantTest is ConsortiumSetup {
    address internal constant ROGUE = address(0x1007);
    bytes32 internal constant ROGUE_REF = keccak256("instrument:rogue-reference");
    bytes32 internal constant ROGUE_NMI = keccak256("record:NMI-certificate-rogue");
    OwnershipHandler internal handler;

    function setUp() public {
        _deploy(0); // no strike threshold: the victim's own revocations never suspend it
        // A second calibration lab, admitted by vote, with its own reference standard, which the reference
        // body certifies (a lab's word is no traceability root).
        vm.prank(LAB);
        uint256 id = registry.proposeAdmission(
            ROGUE, "ROGUE", Roles.LAB, _accreditation(RecordTypes.CALIBRATION_CERTIFICATE, uint40(block.timestamp + 300 days))
        );
        vm.prank(CAL_LAB);
        registry.vote(id);
        vm.prank(REGULATOR);
        registry.vote(id);
        vm.prank(NMI);
        registry.vote(id);
        vm.prank(NMI);
        ledger.anchorCalibration(
            RecordHeader(ROGUE_NMI, PRIMARY, PRIMARY_DECLARATION, keccak256("op"), uint64(block.timestamp - 1)),
            CalibrationTerms(ROGUE_REF, ROGUE, validFrom, validUntil)
        );
        vm.startPrank(ROGUE);
        ledger.registerInstrument(ROGUE_REF, bytes32(0));
        ledger.registerCalibration(ROGUE_REF, NMI, ROGUE_NMI);
        vm.stopPrank();
        handler = new OwnershipHandler(ledger, LAB, [ROGUE, MANUFACTURER], [INSTRUMENT, CERT, ROGUE_REF, ROGUE_NMI]);
        targetContract(address(handler));
        bytes4[] memory actions = new bytes4[](5);
        actions[0] = OwnershipHandler.victimAnchor.selector;
        actions[1] = OwnershipHandler.victimRevoke.selector;
        actions[2] = OwnershipHandler.rootAttack.selector;
        actions[3] = OwnershipHandler.directAttack.selector;
        actions[4] = OwnershipHandler.warp.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: actions}));
    }

    function invariant_OthersNeverChangeAMembersRecord() public view {
        uint256 n = handler.trackedCount();
        for (uint256 i = 0; i < n; ++i) {
            (Inclusion memory inc, RecordStatus expected) = handler.inclusionOf(i);
            assertEq(uint8(ledger.statusOf(inc)), uint8(expected));
        }
        // The victim's certificate-backed calibration stays usable: nobody withdrew it.
        assertTrue(ledger.isCalibratedAt(LAB, INSTRUMENT, CERT, uint64(validFrom)));
    }

    function invariant_AMemberCanAlwaysAnchorAFreshRecord() public view {
        assertEq(handler.freshRefused(), 0);
    }
}
