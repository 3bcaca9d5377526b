// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";

import {ConsortiumRegistry} from "../contracts/ConsortiumRegistry.sol";
import {QualityLedger} from "../contracts/QualityLedger.sol";
import {RecallRegistry} from "../contracts/RecallRegistry.sol";
import {RecordMerkle} from "../contracts/common/RecordMerkle.sol";
import {
    Accreditation,
    BatchCalibration,
    BatchHeader,
    CalibrationTerms,
    Inclusion,
    RecallConfirmation,
    RecordHeader,
    RecordStatus,
    RecordTypes,
    Roles
} from "../contracts/common/Types.sol";
import {IConsortiumRegistry} from "../contracts/interfaces/IConsortiumRegistry.sol";

/// @dev A small consortium shared by the fuzz and invariant suites: a reference body (NMI) declares its
/// primary standard and certifies the calibration lab's reference standard, which certifies the lab's camera.
abstract contract ConsortiumSetup is Test {
    address internal constant LAB = address(0x1001);
    address internal constant CAL_LAB = address(0x1002);
    address internal constant REGULATOR = address(0x1003);
    address internal constant AUDITOR = address(0x1004);
    address internal constant AGENT = address(0x1005);
    address internal constant MANUFACTURER = address(0x1006);
    address internal constant NMI = address(0x1008);

    bytes32 internal constant INSTRUMENT = keccak256("instrument:EL-camera-1");
    bytes32 internal constant PRIMARY = keccak256("instrument:NMI-primary");
    bytes32 internal constant PRIMARY_DECLARATION = keccak256("declaration:NMI-primary");
    bytes32 internal constant REFERENCE = keccak256("instrument:reference");
    bytes32 internal constant NMI_CERT = keccak256("record:NMI-certificate");
    bytes32 internal constant CERT = keccak256("record:calibration-certificate-1");
    bytes32 internal constant OPERATOR = keccak256("operator:alice");

    ConsortiumRegistry internal registry;
    QualityLedger internal ledger;
    RecallRegistry internal recalls;
    uint40 internal validFrom;
    uint40 internal validUntil;

    function _deploy() internal {
        _deploy(3);
    }

    function _deploy(uint256 strikeThreshold) internal {
        vm.warp(1_800_000_000);
        uint40 yearAhead = uint40(block.timestamp + 365 days);
        IConsortiumRegistry.Founder[] memory f = new IConsortiumRegistry.Founder[](7);
        Accreditation memory none;
        f[0] = IConsortiumRegistry.Founder(LAB, "LAB", Roles.LAB, _accreditation(RecordTypes.EL_IMAGE, yearAhead));
        f[1] = IConsortiumRegistry.Founder(
            CAL_LAB, "CAL", Roles.LAB, _accreditation(RecordTypes.CALIBRATION_CERTIFICATE, yearAhead)
        );
        f[2] = IConsortiumRegistry.Founder(REGULATOR, "REG", Roles.REGULATOR, none);
        f[3] = IConsortiumRegistry.Founder(AUDITOR, "AUD", Roles.AUDITOR, none);
        f[4] = IConsortiumRegistry.Founder(AGENT, "ESC", Roles.ESCROW_AGENT, none);
        f[5] = IConsortiumRegistry.Founder(MANUFACTURER, "MFR", Roles.MANUFACTURER, none);
        f[6] = IConsortiumRegistry.Founder(
            NMI, "NMI", Roles.LAB | Roles.REFERENCE_BODY, _accreditation(RecordTypes.CALIBRATION_CERTIFICATE, yearAhead)
        );
        registry = new ConsortiumRegistry(f, 5000, strikeThreshold, 7 days, RecallConfirmation.RegulatorAlone);
        ledger = new QualityLedger(registry);
        registry.bindLedger(address(ledger));
        recalls = new RecallRegistry(registry);
        vm.roll(block.number + 1);

        validFrom = uint40(block.timestamp - 30 days);
        validUntil = uint40(block.timestamp + 335 days);
        vm.startPrank(NMI);
        ledger.registerInstrument(PRIMARY, bytes32(0));
        ledger.registerReferenceCalibration(PRIMARY, PRIMARY_DECLARATION, validFrom - 30 days, yearAhead + 365 days);
        ledger.anchorCalibration(
            RecordHeader(NMI_CERT, PRIMARY, PRIMARY_DECLARATION, OPERATOR, uint64(block.timestamp - 2 days)),
            CalibrationTerms(REFERENCE, CAL_LAB, validFrom, yearAhead)
        );
        vm.stopPrank();
        vm.startPrank(CAL_LAB);
        ledger.registerInstrument(REFERENCE, bytes32(0));
        ledger.registerCalibration(REFERENCE, NMI, NMI_CERT);
        ledger.anchorCalibration(
            RecordHeader(CERT, REFERENCE, NMI_CERT, OPERATOR, uint64(block.timestamp - 1 days)),
            CalibrationTerms(INSTRUMENT, LAB, validFrom, validUntil)
        );
        vm.stopPrank();
        vm.startPrank(LAB);
        ledger.registerInstrument(INSTRUMENT, bytes32(0));
        ledger.registerCalibration(INSTRUMENT, CAL_LAB, CERT);
        vm.stopPrank();
    }

    function _accreditation(uint8 recordType, uint40 until) internal pure returns (Accreditation memory) {
        return Accreditation("CNAS", "L0001", keccak256("scope"), uint64(1) << recordType, until);
    }
}

/// @dev Fuzz properties of single operations.
contract LedgerFuzzTest is ConsortiumSetup {
    function setUp() public {
        _deploy();
    }

    /// Property: an anchor succeeds exactly when every header field is set, the calibration is the one
    /// registered for the instrument and covers measured_at, and measured_at is not in the future.
    function testFuzz_NoAnchorWithoutValidCalibration(
        bytes32 recordId,
        uint8 instrumentChoice,
        uint8 calibrationChoice,
        bytes32 operatorId,
        uint256 measuredAtSeed
    ) public {
        bytes32 instrumentId = [INSTRUMENT, REFERENCE, bytes32(0)][instrumentChoice % 3];
        bytes32 calibration = [CERT, NMI_CERT, bytes32(0), keccak256("other")][calibrationChoice % 4];
        uint64 measuredAt = uint64(bound(measuredAtSeed, validFrom - 10 days, block.timestamp + 10 days));
        // The lab's camera is calibrated by CERT; the reference standard (NMI_CERT) is the calibration lab's,
        // so the lab cannot measure with it. CERT starts at validFrom and outlasts block.timestamp. The
        // calibration lab's certificate id is no obstacle to the lab's own record of that digest.
        bool registered = instrumentId == INSTRUMENT && calibration == CERT;
        bool expected = recordId != bytes32(0) && registered && operatorId != bytes32(0) && measuredAt >= validFrom
            && measuredAt <= block.timestamp;
        RecordHeader memory h = RecordHeader(recordId, instrumentId, calibration, operatorId, measuredAt);
        vm.prank(LAB);
        (bool ok,) = address(ledger).call(abi.encodeCall(QualityLedger.anchor, (RecordTypes.EL_IMAGE, h)));
        assertEq(ok, expected, "anchor accepted iff calibration valid at measured_at");
        if (ok) assertEq(uint8(ledger.recordOf(LAB, recordId).status), uint8(RecordStatus.Anchored));
    }

    /// Property: the same holds for every header of a tier B batch.
    function testFuzz_BatchRefusesAnyInvalidHeader(uint8 count, uint8 badIndex, uint256 measuredAtSeed) public {
        uint256 n = bound(count, 1, 24);
        uint256 bad = badIndex % n;
        uint64 badTime = uint64(bound(measuredAtSeed, validFrom - 10 days, block.timestamp));
        BatchCalibration[] memory cals = new BatchCalibration[](1);
        cals[0] = BatchCalibration(INSTRUMENT, CERT);
        bytes32[] memory ops = new bytes32[](1);
        ops[0] = OPERATOR;
        BatchHeader[] memory headers = new BatchHeader[](n);
        for (uint256 i = 0; i < n; ++i) {
            // ascending ids: a fixed high byte per position
            bytes32 id = bytes32((i + 1) << 248 | uint256(keccak256(abi.encode(count, i))) >> 8);
            headers[i] = BatchHeader(id, uint64(block.timestamp - 1), 0, 0);
        }
        headers[bad].measuredAt = badTime;
        bool expected = badTime >= validFrom;
        vm.prank(LAB);
        (bool ok,) = address(ledger).call(
            abi.encodeCall(QualityLedger.anchorBatch, (RecordTypes.EL_IMAGE, cals, ops, headers))
        );
        assertEq(ok, expected, "batch accepted iff every header valid");
    }

    /// Property: the on-chain tier B root equals a plain reference implementation, and every leaf's proof
    /// verifies against it.
    function testFuzz_MerkleRootMatchesReference(uint16 count, uint256 seed) public pure {
        uint256 n = bound(count, 1, 70);
        bytes32[] memory ids = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            ids[i] = keccak256(abi.encode(seed, i));
        }
        bytes32 expected = _referenceRoot(ids);
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            leaves[i] = RecordMerkle.leaf(ids[i]);
        }
        assertEq(RecordMerkle.rootInPlace(leaves), expected);
        uint256 index = seed % n;
        assertTrue(_verify(_referenceProof(ids, index), expected, keccak256(abi.encode(ids[index]))));
    }

    /// Property: once revoked, a record never reads as anchored again, whatever anyone tries.
    function testFuzz_RevokedNeverValid(bytes32 recordId, uint8 actor) public {
        vm.assume(recordId != bytes32(0) && recordId != CERT);
        RecordHeader memory h = RecordHeader(recordId, INSTRUMENT, CERT, OPERATOR, uint64(block.timestamp - 1));
        vm.prank(LAB);
        ledger.anchor(RecordTypes.EL_IMAGE, h);
        vm.prank(AUDITOR);
        ledger.revoke(LAB, recordId, "cause");
        address who = [LAB, AUDITOR, REGULATOR, MANUFACTURER][actor % 4];
        vm.startPrank(who);
        (bool reanchored,) = address(ledger).call(abi.encodeCall(QualityLedger.anchor, (RecordTypes.EL_IMAGE, h)));
        (bool revokedAgain,) = address(ledger).call(abi.encodeCall(QualityLedger.revoke, (LAB, recordId, "again")));
        (bool superseded,) =
            address(ledger).call(abi.encodeCall(QualityLedger.supersede, (recordId, CERT, "amend")));
        vm.stopPrank();
        assertFalse(reanchored || revokedAgain || superseded);
        Inclusion memory inc = Inclusion(LAB, recordId, bytes32(0), new bytes32[](0));
        assertEq(uint8(ledger.statusOf(inc)), uint8(RecordStatus.Revoked));
    }

    function _referenceRoot(bytes32[] memory ids) private pure returns (bytes32) {
        bytes32[] memory level = new bytes32[](ids.length);
        for (uint256 i = 0; i < ids.length; ++i) {
            level[i] = keccak256(abi.encode(ids[i]));
        }
        while (level.length > 1) level = _nextLevel(level);
        return level[0];
    }

    function _nextLevel(bytes32[] memory level) private pure returns (bytes32[] memory next) {
        next = new bytes32[]((level.length + 1) / 2);
        for (uint256 i = 0; i + 1 < level.length; i += 2) {
            next[i / 2] = _pair(level[i], level[i + 1]);
        }
        if (level.length % 2 == 1) next[next.length - 1] = level[level.length - 1];
    }

    function _referenceProof(bytes32[] memory ids, uint256 index) private pure returns (bytes32[] memory out) {
        bytes32[] memory level = new bytes32[](ids.length);
        for (uint256 i = 0; i < ids.length; ++i) {
            level[i] = keccak256(abi.encode(ids[i]));
        }
        bytes32[] memory buffer = new bytes32[](64);
        uint256 len;
        while (level.length > 1) {
            uint256 sibling = index ^ 1;
            if (sibling < level.length) buffer[len++] = level[sibling];
            level = _nextLevel(level);
            index >>= 1;
        }
        out = new bytes32[](len);
        for (uint256 i = 0; i < len; ++i) {
            out[i] = buffer[i];
        }
    }

    function _verify(bytes32[] memory proof, bytes32 root, bytes32 leaf) private pure returns (bool) {
        bytes32 h = leaf;
        for (uint256 i = 0; i < proof.length; ++i) {
            h = _pair(h, proof[i]);
        }
        return h == root;
    }

    function _pair(bytes32 a, bytes32 b) private pure returns (bytes32) {
        return a < b ? keccak256(abi.encodePacked(a, b)) : keccak256(abi.encodePacked(b, a));
    }
}
