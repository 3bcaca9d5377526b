// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

// Entry point for slither (one file per crytic-compile run): every deployed contract.
import {ConsortiumRegistry} from "../contracts/ConsortiumRegistry.sol";
import {QualityLedger} from "../contracts/QualityLedger.sol";
import {RecallRegistry} from "../contracts/RecallRegistry.sol";
