"""SM4-GCM against the GB/T 32907 and RFC 8998 known answers; Shamir over GF(2^128): field laws, any k of n
shares reconstruct, k-1 shares say nothing about the secret."""

from __future__ import annotations

import itertools
import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger_service.crypto import shamir, sm4

KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


def test_sm4_block_known_answer() -> None:  # GB/T 32907-2016 example 1
    encryptor = Cipher(algorithms.SM4(KEY), modes.ECB()).encryptor()
    assert (encryptor.update(KEY) + encryptor.finalize()).hex().upper() == "681EDF34D206965E86B3E94F536E4246"


def test_sm4_gcm_known_answer_and_wire_format() -> None:  # RFC 8998 appendix A.1
    nonce = bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plaintext = bytes.fromhex("".join(c * 16 for c in "ABCDEFEA"))
    sealed = bytes.fromhex(
        "00001234567800000000ABCD"
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
        "83DE3541E4C2B58177E065A9BF7B62EC"
    )
    assert sm4.decrypt(KEY, sealed, aad) == plaintext
    assert sealed[:12] == nonce


def test_sm4_gcm_refuses_tampering_wrong_keys_and_other_contexts() -> None:
    key = sm4.new_key()
    sealed = sm4.encrypt(key, b"confidential payload", b"record-1")
    assert sealed != sm4.encrypt(key, b"confidential payload", b"record-1")  # fresh nonce each time
    assert sm4.decrypt(key, sealed, b"record-1") == b"confidential payload"
    for bad_key, bad_sealed, bad_aad in [
        (sm4.new_key(), sealed, b"record-1"),
        (key, sealed[:-1] + bytes([sealed[-1] ^ 1]), b"record-1"),
        (key, sealed[:20] + bytes([sealed[20] ^ 1]) + sealed[21:], b"record-1"),
        (key, sealed, b"record-2"),  # moved to another record
        (key, sealed[:10], b"record-1"),
    ]:
        with pytest.raises(sm4.Sm4Error):
            sm4.decrypt(bad_key, bad_sealed, bad_aad)


elements = st.integers(min_value=0, max_value=(1 << 128) - 1)


@settings(max_examples=60, deadline=None)
@given(a=elements, b=elements, c=elements)
def test_gf_field_laws(a: int, b: int, c: int) -> None:
    mul = shamir.gf_mul
    assert mul(a, b) == mul(b, a) < 1 << 128
    assert mul(mul(a, b), c) == mul(a, mul(b, c))
    assert mul(a, b ^ c) == mul(a, b) ^ mul(a, c)
    if a:
        assert mul(a, shamir.gf_inv(a)) == 1


def test_gf_reduction_known_answer() -> None:
    # x^127 * x = x^128 = x^7 + x^2 + x + 1 under the reduction polynomial.
    assert shamir.gf_mul(1 << 127, 2) == 0x87


@pytest.mark.parametrize(("k", "n"), [(1, 1), (2, 3), (3, 5), (5, 5)])
def test_any_k_of_n_shares_reconstruct(k: int, n: int) -> None:
    secret = os.urandom(16)
    shares = shamir.split(secret, k, n)
    assert len({y for _, y in shares}) == n
    for chosen in itertools.combinations(shares, k):
        assert shamir.combine(list(chosen), k) == secret
    if k > 1:
        with pytest.raises(shamir.ShamirError, match="needed"):
            shamir.combine(shares[: k - 1], k)


def test_k_minus_one_shares_are_consistent_with_every_secret() -> None:
    """Perfect secrecy, constructively: for k-1 real shares and ANY candidate secret there is a k-th share that
    completes them to that candidate, so k-1 shares rule nothing out."""
    secret, k = os.urandom(16), 3
    shares = shamir.split(secret, k, 5)[: k - 1]
    for candidate in (bytes(16), os.urandom(16), secret):
        # The degree-(k-1) polynomial through (0, candidate) and the k-1 shares, evaluated at x = 9.
        points = [(0, candidate), *shares]
        x9 = 0
        for j, (xj, yj) in enumerate(points):
            term = int.from_bytes(yj, "big")
            for m, (xm, _) in enumerate(points):
                if m != j:
                    term = shamir.gf_mul(term, shamir.gf_mul(9 ^ xm, shamir.gf_inv(xj ^ xm)))
            x9 ^= term
        assert shamir.combine([*shares, (9, x9.to_bytes(16, "big"))], k) == candidate


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(shamir.ShamirError):
        shamir.split(b"short", 2, 3)
    with pytest.raises(shamir.ShamirError):
        shamir.split(os.urandom(16), 4, 3)
    shares = shamir.split(os.urandom(16), 2, 3)
    with pytest.raises(shamir.ShamirError, match="repeated"):
        shamir.combine([shares[0], (shares[0][0], shares[1][1])], 2)
