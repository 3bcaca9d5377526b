"""SM2: GB/T 32918 known answers, round trips, tampering, and interoperability with two other implementations
(the `openssl` command line both ways; `gmssl` as a verify-and-decrypt oracle)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from gmssl import sm2 as gmssl_sm2
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger_service.crypto.sm2 import DEFAULT_USER_ID, SM2_CURVE, Curve, PrivateKey, PublicKey, Sm2Error

# GB/T 32918.5 (GM/T 0003.5) examples use this 256-bit test curve.
TEST_CURVE = Curve(
    p=0x8542D69E4C044F18E8B92435BF6FF7DE457283915C45517D722EDB8B08F1DFC3,
    a=0x787968B4FA32C3FD2417842E73BBFEFF2F3C848B6831D7E0EC65228B3937E498,
    b=0x63E4C6D3B23B0C849CF84241484BFE48F61D59A5B16BA06E6E12D1DA27C5249A,
    n=0x8542D69E4C044F18E8B92435BF6FF7DD297720630485628D5AE74EE7C32E79B7,
    gx=0x421DEBD61B62EAB6746434EBC3CC315E32220B3BADD50BDC4C4E6C147FEDD43D,
    gy=0x0680512BCBB42C07D47349D2153B70C4E5D7FDFCBFA36EA1A85841B9E46E09A2,
)


def test_signature_known_answer() -> None:
    key = PrivateKey(0x128B2FA8BD433C6C068C8D803DFF79792A519A55171B1B650C23661D15897263, TEST_CURVE)
    public = key.public_key
    assert (public.x, public.y) == (
        0x0AE4C7798AA0F119471BEE11825BE46202BB79E2A5844495E97C04FF4DF2548A,
        0x7C0240F88F1CD4E16352A73C17B7F16F07353E53A176D684A9FE0C6BB798E857,
    )
    alice = b"ALICE123@YAHOO.COM"
    assert public.z(alice).hex().upper() == "F4A38489E32B45B6F876E3AC2168CA392362DC8F23459C1D1146FC3DBFB7BC9A"
    signature = key.sign(
        b"message digest", alice, _k=0x6CB28D99385C175C94F94E934817663FC176D925DD72B727260DBAAE1FB2F96F
    )
    assert signature.hex().upper() == (
        "40F1EC59F793D9F49E09DCEF49130D4194F79FB1EED2CAA55BACDB49C4E755D1"
        "6FC6DAC32C5D5CF10C77DFB20F7C2EB667A457872FB09EC56327A67EC7DEEBE7"
    )
    assert public.verify(b"message digest", signature, alice)
    assert not public.verify(b"message digest", signature)  # another user id
    assert not public.verify(b"message digesT", signature, alice)


def test_encryption_known_answer() -> None:
    key = PrivateKey(0x1649AB77A00637BD5E2EFE283FBF353534AA7F7CB89463F208DDBC2920BB0DA0, TEST_CURVE)
    assert (key.public_key.x, key.public_key.y) == (
        0x435B39CCA8F3B508C1488AFC67BE491A0F7BA07E581A0E4849A5CF70628A7E0A,
        0x75DDBA78F15FEECB4C7895E2C1CDF5FE01DEBB2CDBADF45399CCF77BBA076A42,
    )
    k = 0x4C62EEFD6ECFC2B95B92FD6C3D9575148AFA17425546D49018E5388D49DD7B4F
    ciphertext = key.public_key.encrypt(b"encryption standard", _k=k)
    assert ciphertext.hex().upper() == (
        "04245C26FB68B1DDDDB12C4B6BF9F2B6D5FE60A383B0D18D1C4144ABF17F6252E7"
        "76CB9264C2A7E88E52B19903FDC47378F605E36811F5C07423A24B84400F01B8"
        "9C3D7360C30156FAB7C80A0276712DA9D8094A634B766D3A285E07480653426D"  # C3
        "650053A89B41C418B0C3AAD00D886C00286467"  # C2
    )
    assert key.decrypt(ciphertext) == b"encryption standard"


@settings(max_examples=25, deadline=None)
@given(message=st.binary(min_size=1, max_size=300), user_id=st.binary(min_size=0, max_size=40))
def test_round_trips_on_the_recommended_curve(message: bytes, user_id: bytes) -> None:
    key = PrivateKey.generate()
    assert key.curve is SM2_CURVE
    assert key.public_key.verify(message, key.sign(message, user_id), user_id)
    assert key.decrypt(key.public_key.encrypt(message)) == message


def test_tampering_and_wrong_keys_are_refused() -> None:
    key, other = PrivateKey.generate(), PrivateKey.generate()
    ciphertext = bytearray(key.public_key.encrypt(b"a data key, 16 b"))
    with pytest.raises(Sm2Error, match="integrity"):
        other.decrypt(bytes(ciphertext))
    ciphertext[-1] ^= 1
    with pytest.raises(Sm2Error, match="integrity"):
        key.decrypt(bytes(ciphertext))
    ciphertext[5] ^= 1  # C1 off the curve
    with pytest.raises(Sm2Error, match="curve"):
        key.decrypt(bytes(ciphertext))
    signature = bytearray(key.sign(b"m"))
    assert not other.public_key.verify(b"m", bytes(signature))
    signature[0] ^= 1
    assert not key.public_key.verify(b"m", bytes(signature))
    with pytest.raises(Sm2Error):
        PublicKey.from_bytes(b"\x04" + bytes(64))
    assert PublicKey.from_bytes(key.public_key.to_bytes()) == key.public_key


# ---------------------------------------------------------------- interoperability


def _der_items(der: bytes) -> list[bytes]:
    """The contents of the items of a DER SEQUENCE (short or long lengths), enough for SM2's structures."""
    assert der[0] == 0x30
    pos = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    items = []
    while pos < len(der):
        length, pos = der[pos + 1], pos + 2
        if length & 0x80:
            n = length & 0x7F
            length, pos = int.from_bytes(der[pos : pos + n], "big"), pos + n
        items.append(der[pos : pos + length])
        pos += length
    return items


def _der(*items: tuple[int, bytes]) -> bytes:
    def tlv(tag: int, body: bytes) -> bytes:
        n = len(body)
        size = (
            bytes([n])
            if n < 0x80
            else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
        )
        return bytes([tag]) + size + body

    return tlv(0x30, b"".join(tlv(t, b) for t, b in items))


def _der_int(value: bytes) -> bytes:
    value = value.lstrip(b"\0") or b"\0"
    return b"\0" + value if value[0] & 0x80 else value


@pytest.fixture(scope="module")
def openssl_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, PrivateKey]:
    d = tmp_path_factory.mktemp("openssl")
    key, pub = d / "k.pem", d / "pub.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", key], check=True
    )
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True)
    text = subprocess.run(
        ["openssl", "pkey", "-in", key, "-text", "-noout"], check=True, capture_output=True, text=True
    )
    hexdigits = "".join(text.stdout.split("priv:")[1].split("pub:")[0].split()).replace(":", "")
    return key, pub, PrivateKey(int(hexdigits, 16))


def _openssl(*args: str | Path, data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", "pkeyutl", *map(str, args)], input=data, capture_output=True)


def test_openssl_signatures_verify_here_and_ours_there(
    openssl_key: tuple[Path, Path, PrivateKey], tmp_path: Path
) -> None:
    key_pem, pub_pem, key = openssl_key
    message = b"quality record 0001"
    (tmp_path / "m").write_bytes(message)
    common = ["-rawin", "-digest", "sm3", "-pkeyopt", f"distid:{DEFAULT_USER_ID.decode()}", "-in", tmp_path / "m"]
    signed = _openssl("-sign", "-inkey", key_pem, *common)
    assert signed.returncode == 0, signed.stderr
    r, s = _der_items(signed.stdout)
    assert key.public_key.verify(
        message, int.from_bytes(r, "big").to_bytes(32, "big") + int.from_bytes(s, "big").to_bytes(32, "big")
    )

    ours = key.sign(message)
    (tmp_path / "sig").write_bytes(_der((2, _der_int(ours[:32])), (2, _der_int(ours[32:]))))
    verified = _openssl("-verify", "-pubin", "-inkey", pub_pem, "-sigfile", tmp_path / "sig", *common)
    assert verified.returncode == 0 and b"Verified Successfully" in verified.stdout, verified.stderr
    (tmp_path / "m").write_bytes(message + b"!")
    assert _openssl("-verify", "-pubin", "-inkey", pub_pem, "-sigfile", tmp_path / "sig", *common).returncode != 0


def test_openssl_ciphertexts_decrypt_here_and_ours_there(openssl_key: tuple[Path, Path, PrivateKey]) -> None:
    key_pem, pub_pem, key = openssl_key
    secret = b"0123456789abcdef: an escrowed key share"
    theirs = _openssl("-encrypt", "-pubin", "-inkey", pub_pem, data=secret)
    assert theirs.returncode == 0, theirs.stderr
    x, y, c3, c2 = _der_items(theirs.stdout)  # SM2Ciphertext ::= SEQUENCE { x, y, hash, ciphertext }
    c1 = b"\x04" + int.from_bytes(x, "big").to_bytes(32, "big") + int.from_bytes(y, "big").to_bytes(32, "big")
    assert key.decrypt(c1 + c3 + c2) == secret

    ours = key.public_key.encrypt(secret)
    der = _der((2, _der_int(ours[1:33])), (2, _der_int(ours[33:65])), (4, ours[65:97]), (4, ours[97:]))
    decrypted = _openssl("-decrypt", "-inkey", key_pem, data=der)
    assert decrypted.returncode == 0 and decrypted.stdout == secret, decrypted.stderr


def test_gmssl_verifies_and_decrypts_ours() -> None:
    key = PrivateKey.generate()
    oracle = gmssl_sm2.CryptSM2(
        private_key=key.to_bytes().hex(), public_key=key.public_key.to_bytes()[1:].hex(), mode=1
    )
    message = b"an ai_inspection record"
    assert oracle.verify_with_sm3(key.sign(message).hex(), message)
    assert not oracle.verify_with_sm3(key.sign(message + b"x").hex(), message)
    assert oracle.decrypt(key.public_key.encrypt(message)[1:]) == message  # gmssl writes C1 without the 04
