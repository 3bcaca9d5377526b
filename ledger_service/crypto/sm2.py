"""SM2 (GB/T 32918): key pairs, signatures and public-key encryption on the recommended 256-bit curve.

A native implementation: the pure-Python `gmssl` draws its nonces from `random` (not a CSPRNG), and the
`cryptography` package exposes no SM2. Wire formats are fixed: signatures are r||s (64 bytes), the default user
id is "1234567812345678", ciphertexts are C1||C3||C2 with C1 an uncompressed point (04||x||y). Arithmetic is on
Jacobian coordinates with a fixed-window ladder; the curve's generator has a precomputed table. Written for
correctness and interoperability (tested against GB/T 32918 known answers, OpenSSL and gmssl); Python integers
are not constant-time, so private-key operations belong on machines the key's owner controls.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property

from ledger_service.digests import sm3

DEFAULT_USER_ID = b"1234567812345678"


class Sm2Error(ValueError):
    """A malformed key, signature or ciphertext, or a ciphertext that fails its integrity check."""


Jacobian = tuple[int, int, int]  # (X, Y, Z) with x = X/Z^2, y = Y/Z^3; Z = 0 is the point at infinity
INFINITY: Jacobian = (1, 1, 0)


@dataclass(frozen=True)
class Curve:
    """A short Weierstrass curve y^2 = x^3 + ax + b over F_p with a generator of prime order n."""

    p: int
    a: int
    b: int
    n: int
    gx: int
    gy: int

    @cached_property
    def _g_table(self) -> list[list[Jacobian]]:
        """[i][d] = d * 16^i * G for d in 0..15: a base-point multiplication is then 64 additions."""
        return self._table(self.gx, self.gy)

    def _table(self, x: int, y: int) -> list[list[Jacobian]]:
        """[i][d] = d * 16^i * (x, y) for d in 0..15 (about four multiplications' work to build)."""
        table = []
        base: Jacobian = (x, y, 1)
        for _ in range(64):
            row = [INFINITY, base]
            for _ in range(14):
                row.append(self._add(row[-1], base))
            table.append(row)
            base = self._double(self._double(self._double(self._double(base))))
        return table

    # ---------------------------------------------------------------- points

    def is_on_curve(self, x: int, y: int) -> bool:
        return 0 <= x < self.p and 0 <= y < self.p and (y * y - x * x * x - self.a * x - self.b) % self.p == 0

    def _double(self, pt: Jacobian) -> Jacobian:
        x1, y1, z1 = pt
        if z1 == 0 or y1 == 0:
            return INFINITY
        p = self.p
        yy = y1 * y1 % p
        s = 4 * x1 * yy % p
        zz = z1 * z1 % p
        m = (3 * x1 * x1 + self.a * zz * zz) % p
        x3 = (m * m - 2 * s) % p
        y3 = (m * (s - x3) - 8 * yy * yy) % p
        z3 = 2 * y1 * z1 % p
        return x3, y3, z3

    def _add(self, p1: Jacobian, p2: Jacobian) -> Jacobian:
        if p1[2] == 0:
            return p2
        if p2[2] == 0:
            return p1
        p = self.p
        x1, y1, z1 = p1
        x2, y2, z2 = p2
        z1z1 = z1 * z1 % p
        z2z2 = z2 * z2 % p
        u1 = x1 * z2z2 % p
        u2 = x2 * z1z1 % p
        s1 = y1 * z2 * z2z2 % p
        s2 = y2 * z1 * z1z1 % p
        if u1 == u2:
            return self._double(p1) if s1 == s2 else INFINITY
        h = (u2 - u1) % p
        r = (s2 - s1) % p
        hh = h * h % p
        hhh = h * hh % p
        v = u1 * hh % p
        x3 = (r * r - hhh - 2 * v) % p
        y3 = (r * (v - x3) - s1 * hhh) % p
        z3 = h * z1 * z2 % p
        return x3, y3, z3

    def _affine(self, pt: Jacobian) -> tuple[int, int]:
        x, y, z = pt
        if z == 0:
            raise Sm2Error("point at infinity")
        zinv = pow(z, -1, self.p)
        zinv2 = zinv * zinv % self.p
        return x * zinv2 % self.p, y * zinv2 * zinv % self.p

    def multiply(self, k: int, x: int, y: int) -> tuple[int, int]:
        """k * (x, y): a 4-bit fixed window."""
        k %= self.n
        if k == 0:
            raise Sm2Error("scalar is zero")
        table: list[Jacobian] = [INFINITY, (x, y, 1)]
        for _ in range(14):
            table.append(self._add(table[-1], table[1]))
        acc = INFINITY
        for shift in range((k.bit_length() + 3) // 4 * 4 - 4, -1, -4):
            acc = self._double(self._double(self._double(self._double(acc))))
            digit = (k >> shift) & 15
            if digit:
                acc = self._add(acc, table[digit])
        return self._affine(acc)

    def multiply_g(self, k: int) -> tuple[int, int]:
        """k * G from the precomputed table."""
        return self._multiply_table(k, self._g_table)

    def _multiply_table(self, k: int, table: list[list[Jacobian]]) -> tuple[int, int]:
        k %= self.n
        if k == 0:
            raise Sm2Error("scalar is zero")
        acc = INFINITY
        i = 0
        while k:
            digit = k & 15
            if digit:
                acc = self._add(acc, table[i][digit])
            k >>= 4
            i += 1
        return self._affine(acc)

    def _combine(self, u: int, v: int, x: int, y: int) -> tuple[int, int]:
        """u * G + v * (x, y), as a signature check needs."""
        g = self.multiply_g(u) if u % self.n else None
        q = None
        if v % self.n:
            # A key seen before (an enrolled operator's, an issuer's: a verifier meets the same few again and
            # again) gets a table like the generator's: its multiplication becomes 64 additions.
            seen = _SEEN.get((x, y), 0) + 1
            if len(_SEEN) > 4096:
                _SEEN.clear()
            _SEEN[(x, y)] = seen
            table = _point_table(self, x, y, seen)
            q = self._multiply_table(v, table) if table is not None else self.multiply(v, x, y)
        if g is None or q is None:
            single = g or q
            if single is None:
                raise Sm2Error("point at infinity")
            return single
        return self._affine(self._add((g[0], g[1], 1), (q[0], q[1], 1)))


_SEEN: dict[tuple[int, int], int] = {}  # public point -> verifications seen (bounded)
_TABLES: OrderedDict[tuple[Curve, int, int], list[list[Jacobian]]] = OrderedDict()  # least recently used first
_TABLES_MAX = 32  # about 0.3 MB each
_TABLES_LOCK = threading.Lock()


def _point_table(curve: Curve, x: int, y: int, seen: int) -> list[list[Jacobian]] | None:
    """The key's table if one is kept; else one is built only on its 2nd, 4th, 8th... verification. A table
    costs about three plain multiplications: built on every repeat, a stream of more keys than are kept (each
    seen twice) made each verification cost four times the plain one, and pushed the enrolled keys' out; built
    at powers of two only, a key's table costs at most about log2 of its verifications."""
    key = (curve, x, y)
    with _TABLES_LOCK:
        table = _TABLES.get(key)
        if table is not None:
            _TABLES.move_to_end(key)
            return table
    if seen < 2 or seen & (seen - 1):
        return None
    table = curve._table(x, y)
    with _TABLES_LOCK:
        _TABLES[key] = table
        while len(_TABLES) > _TABLES_MAX:
            _TABLES.popitem(last=False)
    return table


# GB/T 32918.5-2017: the recommended curve parameters.
SM2_CURVE = Curve(
    p=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF,
    a=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC,
    b=0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93,
    n=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123,
    gx=0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    gy=0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
)


def _int32(value: int) -> bytes:
    return value.to_bytes(32, "big")


@dataclass(frozen=True)
class PublicKey:
    x: int
    y: int
    curve: Curve = SM2_CURVE

    def __post_init__(self) -> None:
        if not self.curve.is_on_curve(self.x, self.y):
            raise Sm2Error("the public key is not a point of the curve")

    @classmethod
    def from_bytes(cls, raw: bytes, curve: Curve = SM2_CURVE) -> PublicKey:
        """From an uncompressed point 04||x||y (65 bytes) or x||y (64 bytes)."""
        if len(raw) == 65 and raw[0] == 4:
            raw = raw[1:]
        if len(raw) != 64:
            raise Sm2Error("an SM2 public key is 04||x||y, 65 bytes")
        return cls(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"), curve)

    def to_bytes(self) -> bytes:
        return b"\x04" + _int32(self.x) + _int32(self.y)

    def z(self, user_id: bytes = DEFAULT_USER_ID) -> bytes:
        """Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA)."""
        c = self.curve
        if len(user_id) * 8 > 0xFFFF:
            raise Sm2Error("user id too long")
        parts = [(len(user_id) * 8).to_bytes(2, "big"), user_id]
        parts += [_int32(v) for v in (c.a, c.b, c.gx, c.gy, self.x, self.y)]
        return sm3(b"".join(parts))

    def verify(self, message: bytes, signature: bytes, user_id: bytes = DEFAULT_USER_ID) -> bool:
        """Whether `signature` (r||s, 64 bytes) is this key's signature of `message`."""
        c = self.curve
        if len(signature) != 64:
            return False
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        if not (1 <= r < c.n and 1 <= s < c.n):
            return False
        t = (r + s) % c.n
        if t == 0:
            return False
        e = int.from_bytes(sm3(self.z(user_id) + message), "big")
        try:
            x1, _ = c._combine(s, t, self.x, self.y)
        except Sm2Error:
            return False
        return (e + x1) % c.n == r

    def encrypt(self, plaintext: bytes, _k: int | None = None) -> bytes:
        """C1||C3||C2; `_k` fixes the ephemeral scalar for known-answer tests only."""
        c = self.curve
        if not plaintext:
            raise Sm2Error("nothing to encrypt")
        while True:
            k = _k if _k is not None else secrets.randbelow(c.n - 1) + 1
            x1, y1 = c.multiply_g(k)
            x2, y2 = c.multiply(k, self.x, self.y)
            shared = _int32(x2) + _int32(y2)
            t = _kdf(shared, len(plaintext))
            if any(t):
                break
            if _k is not None:
                raise Sm2Error("the fixed scalar gives an all-zero key stream")
        c2 = bytes(a ^ b for a, b in zip(plaintext, t, strict=True))
        c3 = sm3(_int32(x2) + plaintext + _int32(y2))
        return b"\x04" + _int32(x1) + _int32(y1) + c3 + c2


@dataclass(frozen=True)
class PrivateKey:
    d: int
    curve: Curve = SM2_CURVE

    def __post_init__(self) -> None:
        if not 1 <= self.d < self.curve.n - 1:
            raise Sm2Error("an SM2 private key is in [1, n-2]")

    @classmethod
    def generate(cls, curve: Curve = SM2_CURVE) -> PrivateKey:
        return cls(secrets.randbelow(curve.n - 2) + 1, curve)

    @classmethod
    def from_bytes(cls, raw: bytes, curve: Curve = SM2_CURVE) -> PrivateKey:
        if len(raw) != 32:
            raise Sm2Error("an SM2 private key is 32 bytes")
        return cls(int.from_bytes(raw, "big"), curve)

    def to_bytes(self) -> bytes:
        return _int32(self.d)

    @cached_property
    def public_key(self) -> PublicKey:
        return PublicKey(*self.curve.multiply_g(self.d), curve=self.curve)

    def sign(self, message: bytes, user_id: bytes = DEFAULT_USER_ID, _k: int | None = None) -> bytes:
        """r||s over SM3(Z_A || message); `_k` fixes the nonce for known-answer tests only."""
        c = self.curve
        e = int.from_bytes(sm3(self.public_key.z(user_id) + message), "big")
        inverse = pow(1 + self.d, -1, c.n)
        while True:
            k = _k if _k is not None else secrets.randbelow(c.n - 1) + 1
            x1, _ = c.multiply_g(k)
            r = (e + x1) % c.n
            if r == 0 or r + k == c.n:
                if _k is not None:
                    raise Sm2Error("the fixed nonce gives r = 0")
                continue
            s = inverse * (k - r * self.d) % c.n
            if s != 0:
                return _int32(r) + _int32(s)
            if _k is not None:
                raise Sm2Error("the fixed nonce gives s = 0")

    def decrypt(self, ciphertext: bytes) -> bytes:
        """The plaintext of C1||C3||C2; raises Sm2Error if C1 is not on the curve or C3 does not match."""
        c = self.curve
        if len(ciphertext) < 65 + 32 + 1 or ciphertext[0] != 4:
            raise Sm2Error("an SM2 ciphertext is 04||x1||y1||C3||C2")
        x1, y1 = int.from_bytes(ciphertext[1:33], "big"), int.from_bytes(ciphertext[33:65], "big")
        if not c.is_on_curve(x1, y1):
            raise Sm2Error("C1 is not a point of the curve")
        c3, c2 = ciphertext[65:97], ciphertext[97:]
        x2, y2 = c.multiply(self.d, x1, y1)
        t = _kdf(_int32(x2) + _int32(y2), len(c2))
        if not any(t):
            raise Sm2Error("all-zero key stream")
        plaintext = bytes(a ^ b for a, b in zip(c2, t, strict=True))
        if not secrets.compare_digest(sm3(_int32(x2) + plaintext + _int32(y2)), c3):
            raise Sm2Error("the ciphertext fails its integrity check (C3)")
        return plaintext


def _kdf(shared: bytes, length: int) -> bytes:
    """GB/T 32918.4 KDF: SM3(Z || ct) for ct = 1, 2, ... truncated to `length` bytes."""
    out = bytearray()
    counter = 1
    while len(out) < length:
        out += sm3(shared + counter.to_bytes(4, "big"))
        counter += 1
    return bytes(out[:length])
