// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CommonBase} from "forge-std/Base.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

import {ConsortiumRegistry} from "../contracts/ConsortiumRegistry.sol";
import {QualityLedger} from "../contracts/QualityLedger.sol";
import {
    Accreditation,
    Calibration,
    CalibrationTerms,
    MemberStatus,
    RecordHeader,
    RecordTypes,
    Roles
} from "../contracts/common/Types.sol";
import {IInstrumentRegistry} from "../contracts/interfaces/IInstrumentRegistry.sol";
import {ConsortiumSetup} from "./LedgerProperties.t.sol";

/// @dev Every member, the reference body included, declares traceability roots for instruments of its own
/// and of others' ids, with any digest and window; the reference body certifies members' instruments the
/// ordinary way; the consortium suspends and reinstates the reference body, and admits a second one by vote.
/// It counts the declarations accepted from an account that was not, at that moment, an active member
/// holding REFERENCE_BODY, and remembers every (owner, instrument) calibrated, for the invariant to inspect
/// (docs/threat-model.md, "a hostile member").
contract TraceabilityHandler is CommonBase, StdUtils {
    ConsortiumRegistry internal immutable registry;
    QualityLedger internal immutable ledger;
    address internal immutable nmi;
    bytes32 internal immutable primary;
    bytes32 internal immutable primaryDeclaration;
    address[] internal actors;
    address[] internal voters;

    struct Pair {
        address owner;
        bytes32 instrumentId;
    }

    Pair[] internal pairs;
    mapping(address owner => mapping(bytes32 instrumentId => bool)) internal seen;
    uint256 public unauthorisedDeclarations; // accepted from an account not an active REFERENCE_BODY member
    uint256 public declarations; // accepted from a reference body
    uint256 public ordinary; // calibrations registered from a reference body's certificate
    address public secondBody; // a reference body admitted by vote, once
    uint256 internal nonce;

    constructor(
        ConsortiumRegistry registry_,
        QualityLedger ledger_,
        address nmi_,
        bytes32[2] memory primary_, // instrument, declaration
        address[] memory actors_,
        address[] memory voters_
    ) {
        (registry, ledger, nmi, actors, voters) = (registry_, ledger_, nmi_, actors_, voters_);
        (primary, primaryDeclaration) = (primary_[0], primary_[1]);
        actors.push(address(0xBAD)); // never a member
    }

    function pairCount() external view returns (uint256) {
        return pairs.length;
    }

    function pairOf(uint256 i) external view returns (address, bytes32) {
        return (pairs[i].owner, pairs[i].instrumentId);
    }

    /// An actor declares a traceability root for an instrument (its own standard, the reference body's
    /// primary standard id, or a fresh one), registering it first when it can.
    function declare(uint256 who, uint8 which, bytes32 digest, uint40 validFrom, uint40 validUntil) external {
        address actor = actors[who % actors.length];
        bytes32 instrumentId = _instrument(actor, which);
        if (which & 4 == 0) {
            // Mostly a sound window (the rest tries malformed ones).
            validFrom = uint40(bound(validFrom, 1, 2 ** 39));
            validUntil = uint40(bound(validUntil, validFrom + 1, 2 ** 40 - 1));
        }
        bool authorised = registry.hasRoles(actor, Roles.REFERENCE_BODY); // active and holding the role
        vm.startPrank(actor);
        try ledger.registerInstrument(instrumentId, bytes32(0)) {} catch {}
        try ledger.registerReferenceCalibration(instrumentId, digest, validFrom, validUntil) {
            if (authorised) ++declarations;
            else ++unauthorisedDeclarations;
        } catch {}
        vm.stopPrank();
        _remember(actor, instrumentId);
    }

    /// The reference body certifies an actor's instrument; the actor registers the certificate.
    function certify(uint256 who, uint8 which, uint40 validFrom, uint32 length) external {
        address actor = actors[who % actors.length];
        bytes32 instrumentId = _instrument(actor, which);
        bytes32 certificate = keccak256(abi.encode("certificate", ++nonce));
        validFrom = uint40(bound(validFrom, 1, block.timestamp));
        uint40 validUntil = validFrom + uint40(bound(length, 1, 800 days));
        vm.prank(nmi);
        try ledger.anchorCalibration(
            RecordHeader(certificate, primary, primaryDeclaration, keccak256("op"), uint64(block.timestamp - 1)),
            CalibrationTerms(instrumentId, actor, validFrom, validUntil)
        ) {} catch {
            return; // suspended, or the primary standard's window passed
        }
        vm.startPrank(actor);
        try ledger.registerInstrument(instrumentId, bytes32(0)) {} catch {}
        try ledger.registerCalibration(instrumentId, nmi, certificate) {
            ++ordinary;
        } catch {}
        vm.stopPrank();
        _remember(actor, instrumentId);
    }

    /// The consortium suspends the reference body (or reinstates it) by vote.
    function govern(bool suspend) external {
        MemberStatus status = registry.memberOf(nmi).status;
        if (suspend != (status == MemberStatus.Active)) return;
        vm.prank(voters[0]);
        uint256 id = suspend ? registry.proposeSuspension(nmi, "vote") : registry.proposeReinstatement(nmi, "vote");
        for (uint256 i = 1; i < voters.length && !registry.proposalOf(id).executed; ++i) {
            vm.prank(voters[i]);
            try registry.vote(id) {} catch {}
        }
    }

    /// The consortium admits a second reference body by vote: the governance decision that grants the role.
    function admitReferenceBody() external {
        if (secondBody != address(0)) return;
        address body = address(0x2001);
        Accreditation memory a = Accreditation(
            "CNAS", "L0009", keccak256("scope"), uint64(1) << RecordTypes.CALIBRATION_CERTIFICATE, uint40(block.timestamp + 300 days)
        );
        vm.prank(voters[0]);
        uint256 id = registry.proposeAdmission(body, "NMI-2", Roles.LAB | Roles.REFERENCE_BODY, a);
        for (uint256 i = 1; i < voters.length && !registry.proposalOf(id).executed; ++i) {
            vm.prank(voters[i]);
            try registry.vote(id) {} catch {}
        }
        if (registry.memberOf(body).status == MemberStatus.Active) {
            secondBody = body;
            actors.push(body);
        }
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1, 10 days));
        vm.roll(block.number + 1);
    }

    function _instrument(address actor, uint8 which) private returns (bytes32) {
        if (which % 4 == 0) return keccak256(abi.encode("standard", actor));
        if (which % 4 == 1) return primary;
        if (which % 4 == 2) return keccak256("instrument:reference");
        return keccak256(abi.encode("fresh", ++nonce));
    }

    function _remember(address owner, bytes32 instrumentId) private {
        if (seen[owner][instrumentId]) return;
        seen[owner][instrumentId] = true;
        pairs.push(Pair(owner, instrumentId));
    }
}

/// @dev Issue #13, part 3: a reference (traceability) calibration needs evidence. The only evidence a
/// declared root has is the governance decision that gave its declarer the REFERENCE_BODY role.
contract TraceabilityInvariantTest is ConsortiumSetup {
    address internal constant ROGUE = address(0x1007);
    TraceabilityHandler internal handler;

    function setUp() public {
        _deploy();
        // A calibration lab admitted by vote, accredited for certificates, without the role.
        vm.prank(LAB);
        uint256 id = registry.proposeAdmission(
            ROGUE, "ROGUE", Roles.LAB, _accreditation(RecordTypes.CALIBRATION_CERTIFICATE, uint40(block.timestamp + 300 days))
        );
        address[3] memory approvers = [CAL_LAB, REGULATOR, NMI];
        for (uint256 i = 0; i < approvers.length; ++i) {
            vm.prank(approvers[i]);
            registry.vote(id);
        }
        vm.roll(block.number + 1);
        address[] memory actors = new address[](8);
        (actors[0], actors[1], actors[2], actors[3]) = (LAB, CAL_LAB, REGULATOR, AUDITOR);
        (actors[4], actors[5], actors[6], actors[7]) = (AGENT, MANUFACTURER, ROGUE, NMI);
        address[] memory voters = new address[](6);
        (voters[0], voters[1], voters[2], voters[3], voters[4], voters[5]) =
            (REGULATOR, LAB, CAL_LAB, AUDITOR, MANUFACTURER, AGENT);
        handler = new TraceabilityHandler(registry, ledger, NMI, [PRIMARY, PRIMARY_DECLARATION], actors, voters);
        targetContract(address(handler));
        bytes4[] memory actions = new bytes4[](5);
        actions[0] = TraceabilityHandler.declare.selector;
        actions[1] = TraceabilityHandler.certify.selector;
        actions[2] = TraceabilityHandler.govern.selector;
        actions[3] = TraceabilityHandler.admitReferenceBody.selector;
        actions[4] = TraceabilityHandler.warp.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: actions}));
    }

    /// No account without REFERENCE_BODY ever gets a reference calibration registered: no declaration is
    /// accepted from anyone but an active reference body, and every external calibration on record belongs
    /// to an account holding the role.
    function invariant_NoReferenceCalibrationWithoutReferenceBody() public view {
        assertEq(handler.unauthorisedDeclarations(), 0);
        uint256 n = handler.pairCount();
        for (uint256 i = 0; i < n; ++i) {
            (address owner, bytes32 instrumentId) = handler.pairOf(i);
            bool body = registry.memberOf(owner).roles & Roles.REFERENCE_BODY != 0;
            bytes32[] memory history = ledger.calibrationHistory(owner, instrumentId);
            for (uint256 j = 0; j < history.length; ++j) {
                Calibration memory c = ledger.calibrationOf(owner, instrumentId, history[j]);
                if (c.external_) assertTrue(body, "a reference calibration of an account without REFERENCE_BODY");
            }
        }
    }

    /// Fuzz: a founder other than the reference body, or an outsider, is refused for the role whatever the
    /// instrument, digest and window, and nothing is registered.
    function testFuzz_OnlyAReferenceBodyDeclares(uint8 who, bytes32 instrumentId, bytes32 digest, uint40 from, uint40 until)
        public
    {
        address[7] memory others = [LAB, CAL_LAB, REGULATOR, AUDITOR, AGENT, MANUFACTURER, ROGUE];
        address actor = others[who % others.length];
        vm.assume(instrumentId != bytes32(0));
        vm.startPrank(actor);
        try ledger.registerInstrument(instrumentId, bytes32(0)) {} catch {}
        vm.expectRevert(abi.encodeWithSelector(IInstrumentRegistry.InstrumentNotReferenceBody.selector, actor));
        ledger.registerReferenceCalibration(instrumentId, digest, from, until);
        vm.stopPrank();
        assertEq(ledger.calibrationOf(actor, instrumentId, digest).validFrom, 0);
        // The reference body itself declares a root for a fresh standard of its own with a sound window.
        vm.assume(digest != bytes32(0) && from != 0 && until > from);
        vm.startPrank(NMI);
        bytes32 own = keccak256(abi.encode("NMI standard", instrumentId));
        ledger.registerInstrument(own, bytes32(0));
        ledger.registerReferenceCalibration(own, digest, from, until);
        vm.stopPrank();
        assertTrue(ledger.calibrationOf(NMI, own, digest).external_);
    }
}
