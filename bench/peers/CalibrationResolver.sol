// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.29;

// Gas-comparison peer only (bench/gas): an EAS schema resolver enforcing the same header rules as qledger's
// tier A anchor, so that EAS `attest` can be measured with and without on-chain enforcement.

import {SchemaResolver} from "@ethereum-attestation-service/eas-contracts/contracts/resolver/SchemaResolver.sol";
import {IEAS, Attestation} from "@ethereum-attestation-service/eas-contracts/contracts/IEAS.sol";

contract CalibrationResolver is SchemaResolver {
    struct Window {
        uint40 validFrom;
        uint40 validUntil;
    }

    mapping(address attester => uint64 recordTypeScope) public scopes;
    mapping(bytes32 instrumentId => mapping(bytes32 certificate => Window)) public windows;

    constructor(IEAS eas) SchemaResolver(eas) {}

    function setScope(address attester, uint64 scope) external {
        scopes[attester] = scope;
    }

    function setWindow(bytes32 instrumentId, bytes32 certificate, uint40 validFrom, uint40 validUntil) external {
        windows[instrumentId][certificate] = Window(validFrom, validUntil);
    }

    function onAttest(Attestation calldata attestation, uint256 /*value*/) internal view override returns (bool) {
        (, bytes32 instrumentId, bytes32 calibration, bytes32 operatorId, uint64 measuredAt, uint8 recordType) =
            abi.decode(attestation.data, (bytes32, bytes32, bytes32, bytes32, uint64, uint8));
        if ((scopes[attestation.attester] >> recordType) & 1 == 0) return false;
        if (instrumentId == 0 || calibration == 0 || operatorId == 0) return false;
        Window memory w = windows[instrumentId][calibration];
        return w.validFrom != 0 && measuredAt >= w.validFrom && measuredAt <= w.validUntil;
    }

    function onRevoke(Attestation calldata, /*attestation*/ uint256 /*value*/ ) internal pure override returns (bool) {
        return true;
    }
}
