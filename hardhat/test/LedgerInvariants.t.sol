// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CommonBase} from "forge-std/Base.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

import {ConsortiumRegistry} from "../contracts/ConsortiumRegistry.sol";
import {QualityLedger} from "../contracts/QualityLedger.sol";
import {RecallRegistry} from "../contracts/RecallRegistry.sol";
import {
    BatchCalibration,
    BatchHeader,
    Inclusion,
    MemberStatus,
    RecordHeader,
    RecordStatus,
    RecordTypes
} from "../contracts/common/Types.sol";
import {IRecallRegistry} from "../contracts/interfaces/IRecallRegistry.sol";
import {ConsortiumSetup} from "./LedgerProperties.t.sol";

/// @dev Drives the consortium through random sequences of members' actions, good and bad, and counts every
/// outcome the rules forbid. The invariants below require each count to stay zero.
contract LedgerHandler is CommonBase, StdUtils {
    ConsortiumRegistry internal immutable registry;
    QualityLedger internal immutable ledger;
    RecallRegistry internal immutable recalls;
    address internal immutable lab;
    address internal immutable auditor;
    address internal immutable regulator;
    address internal immutable agent;
    address[3] internal voters;
    bytes32 internal immutable instrument;
    bytes32 internal immutable certificate;
    uint40 internal immutable validFrom;
    uint40 internal immutable validUntil;

    uint256 public invalidAnchors; // anchors accepted although the calibration did not cover measured_at
    uint256 public suspendedAnchors; // anchors accepted from a suspended member
    uint256 public invalidReleases; // releases accepted for a recall not confirmed, or closed
    bytes32[] public revoked;
    bytes32[] public anchored;
    uint256 internal nonce;

    constructor(
        ConsortiumRegistry registry_,
        QualityLedger ledger_,
        RecallRegistry recalls_,
        address[4] memory actors,
        address[3] memory voters_,
        bytes32 instrument_,
        bytes32 certificate_,
        uint40 validFrom_,
        uint40 validUntil_
    ) {
        (registry, ledger, recalls) = (registry_, ledger_, recalls_);
        (lab, auditor, regulator, agent) = (actors[0], actors[1], actors[2], actors[3]);
        voters = voters_;
        (instrument, certificate, validFrom, validUntil) = (instrument_, certificate_, validFrom_, validUntil_);
    }

    function revokedCount() external view returns (uint256) {
        return revoked.length;
    }

    /// A tier A anchor at some time around the calibration window.
    function anchorOne(uint256 timeSeed, uint8 operatorSeed) external {
        bool zeroOperator = operatorSeed % 8 == 0;
        uint64 measuredAt = uint64(bound(timeSeed, validFrom - 5 days, block.timestamp));
        bytes32 recordId = keccak256(abi.encode("A", ++nonce));
        bytes32 operatorId = zeroOperator ? bytes32(0) : keccak256("operator");
        bool suspended = registry.memberOf(lab).status != MemberStatus.Active;
        vm.prank(lab);
        try ledger.anchor(
            RecordTypes.EL_IMAGE, RecordHeader(recordId, instrument, certificate, operatorId, measuredAt)
        ) {
            anchored.push(recordId);
            if (suspended) ++suspendedAnchors;
            if (!_covered(measuredAt) || zeroOperator) ++invalidAnchors;
        } catch {}
    }

    /// A tier B batch of up to 8 records, any of which may lie outside the window.
    function anchorBatch(uint256 timeSeed, uint8 size) external {
        uint256 n = bound(size, 1, 8);
        BatchCalibration[] memory cals = new BatchCalibration[](1);
        cals[0] = BatchCalibration(instrument, certificate);
        bytes32[] memory ops = new bytes32[](1);
        ops[0] = keccak256("operator");
        BatchHeader[] memory headers = new BatchHeader[](n);
        bool allCovered = true;
        ++nonce;
        for (uint256 i = 0; i < n; ++i) {
            uint64 t = uint64(bound(uint256(keccak256(abi.encode(timeSeed, i))), validFrom - 2 days, block.timestamp));
            allCovered = allCovered && _covered(t);
            headers[i] = BatchHeader(bytes32((i + 1) << 248 | nonce), t, 0, 0);
        }
        bool suspended = registry.memberOf(lab).status != MemberStatus.Active;
        vm.prank(lab);
        try ledger.anchorBatch(RecordTypes.EL_IMAGE, cals, ops, headers) {
            if (suspended) ++suspendedAnchors;
            if (!allCovered) ++invalidAnchors;
        } catch {}
    }

    /// A tier C root.
    function anchorRoot(bytes32 root) external {
        bool suspended = registry.memberOf(lab).status != MemberStatus.Active;
        vm.prank(lab);
        try ledger.anchorRoot(root, 8, bytes32(0)) {
            if (suspended) ++suspendedAnchors;
        } catch {}
    }

    /// An auditor revokes an anchored record; strikes may suspend the lab.
    function revokeOne(uint256 index) external {
        if (anchored.length == 0) return;
        bytes32 recordId = anchored[index % anchored.length];
        vm.prank(auditor);
        try ledger.revoke(lab, recordId, "cause") {
            revoked.push(recordId);
        } catch {}
    }

    /// Anyone tries to bring a revoked record back: anchor it again (tier A or B) or supersede it.
    function resurrect(uint256 index, uint8 how) external {
        if (revoked.length == 0) return;
        bytes32 recordId = revoked[index % revoked.length];
        vm.startPrank(lab);
        if (how % 3 == 0) {
            try ledger.anchor(
                RecordTypes.EL_IMAGE,
                RecordHeader(recordId, instrument, certificate, keccak256("operator"), uint64(block.timestamp))
            ) {} catch {}
        } else if (how % 3 == 1) {
            BatchCalibration[] memory cals = new BatchCalibration[](1);
            cals[0] = BatchCalibration(instrument, certificate);
            bytes32[] memory ops = new bytes32[](1);
            ops[0] = keccak256("operator");
            BatchHeader[] memory headers = new BatchHeader[](1);
            headers[0] = BatchHeader(recordId, uint64(block.timestamp), 0, 0);
            try ledger.anchorBatch(RecordTypes.EL_IMAGE, cals, ops, headers) {} catch {}
        } else if (anchored.length > 0) {
            try ledger.supersede(recordId, anchored[anchored.length - 1], "amend") {} catch {}
        }
        vm.stopPrank();
    }

    /// The consortium reinstates the lab by vote.
    function reinstate() external {
        if (registry.memberOf(lab).status != MemberStatus.Suspended) return;
        vm.prank(regulator);
        uint256 id = registry.proposeReinstatement(lab, "vote");
        for (uint256 i = 0; i < voters.length; ++i) {
            if (registry.proposalOf(id).executed) break;
            vm.prank(voters[i]);
            registry.vote(id);
        }
    }

    function openRecall(bytes32 scope) external {
        if (scope == bytes32(0)) return;
        vm.prank(regulator);
        recalls.openRecall(IRecallRegistry.ScopeKind.Lot, scope, "notice");
    }

    function closeRecall(uint256 index) external {
        uint256 count = recalls.recallCount();
        if (count == 0) return;
        vm.prank(regulator);
        try recalls.closeRecall(index % count + 1, "done") {} catch {}
    }

    /// An escrow agent posts a release against any recall id, open, closed or unknown.
    function postRelease(uint256 recallId, bytes32 digest) external {
        recallId = bound(recallId, 0, recalls.recallCount() + 1);
        bool inForce = recalls.recallOf(recallId).status == IRecallRegistry.RecallStatus.Confirmed;
        vm.prank(agent);
        try recalls.postRelease(recallId, digest, "bafkrei-share") {
            if (!inForce) ++invalidReleases;
        } catch {}
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1, 20 days));
        vm.roll(block.number + 1);
    }

    function _covered(uint64 t) private view returns (bool) {
        return t >= validFrom && t <= validUntil;
    }
}

/// @dev The four invariants of issue #2.
contract LedgerInvariantTest is ConsortiumSetup {
    LedgerHandler internal handler;

    function setUp() public {
        // A low threshold, so that random sequences often suspend the lab.
        _deploy(2);
        handler = new LedgerHandler(
            registry,
            ledger,
            recalls,
            [LAB, AUDITOR, REGULATOR, AGENT],
            [CAL_LAB, AUDITOR, MANUFACTURER],
            INSTRUMENT,
            CERT,
            validFrom,
            validUntil
        );
        targetContract(address(handler));
        // Only the actions: the handler's public getters would dilute the sequences.
        bytes4[] memory actions = new bytes4[](10);
        actions[0] = LedgerHandler.anchorOne.selector;
        actions[1] = LedgerHandler.anchorBatch.selector;
        actions[2] = LedgerHandler.anchorRoot.selector;
        actions[3] = LedgerHandler.revokeOne.selector;
        actions[4] = LedgerHandler.reinstate.selector;
        actions[5] = LedgerHandler.openRecall.selector;
        actions[6] = LedgerHandler.closeRecall.selector;
        actions[7] = LedgerHandler.postRelease.selector;
        actions[8] = LedgerHandler.warp.selector;
        actions[9] = LedgerHandler.resurrect.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: actions}));
    }

    function invariant_NoAnchorWithoutValidCalibration() public view {
        assertEq(handler.invalidAnchors(), 0);
    }

    function invariant_SuspendedMemberNeverAnchors() public view {
        assertEq(handler.suspendedAnchors(), 0);
    }

    function invariant_RevokedRecordNeverValid() public view {
        uint256 n = handler.revokedCount();
        for (uint256 i = 0; i < n; ++i) {
            Inclusion memory inc = Inclusion(LAB, handler.revoked(i), bytes32(0), new bytes32[](0));
            assertEq(uint8(ledger.statusOf(inc)), uint8(RecordStatus.Revoked));
        }
    }

    function invariant_NoReleaseWithoutOpenConfirmedRecall() public view {
        assertEq(handler.invalidReleases(), 0);
        uint256 count = recalls.recallCount();
        for (uint256 id = 1; id <= count; ++id) {
            IRecallRegistry.Recall memory r = recalls.recallOf(id);
            if (r.releases > 0) assertTrue(r.confirmedAt != 0);
        }
    }
}
