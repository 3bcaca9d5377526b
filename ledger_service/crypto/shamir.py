"""Shamir secret sharing of 128-bit secrets over GF(2^128) (reduction polynomial x^128 + x^7 + x^2 + x + 1):
any k of n shares give the secret; k-1 shares give nothing about it. Shares are (x, y) with x in 1..255."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from functools import cache

_REDUCTION = (1 << 128) | 0x87
_MASK = (1 << 128) - 1


class ShamirError(ValueError):
    """Too few shares, repeated share indexes or an invalid threshold."""


def gf_mul(a: int, b: int) -> int:
    """Product in GF(2^128): carry-less multiplication, then reduction."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        a <<= 1
        b >>= 1
    for bit in range(product.bit_length() - 1, 127, -1):
        if product >> bit & 1:
            product ^= _REDUCTION << (bit - 128)
    return product


def gf_inv(a: int) -> int:
    """a^(2^128 - 2) = a^-1."""
    if a == 0:
        raise ZeroDivisionError("0 has no inverse")
    result, base, exponent = 1, a, (1 << 128) - 2
    while exponent:
        if exponent & 1:
            result = gf_mul(result, base)
        base = gf_mul(base, base)
        exponent >>= 1
    return result


def split(secret: bytes, k: int, n: int) -> list[tuple[int, bytes]]:
    """n shares of a 16-byte secret, any k of which reconstruct it."""
    if len(secret) != 16:
        raise ShamirError("the secret is 16 bytes")
    if not 1 <= k <= n <= 255:
        raise ShamirError(f"need 1 <= k <= n <= 255, got k={k}, n={n}")
    coefficients = [int.from_bytes(secret, "big")] + [secrets.randbits(128) for _ in range(k - 1)]
    shares = []
    for x in range(1, n + 1):
        y = 0
        for c in reversed(coefficients):  # Horner
            y = gf_mul(y, x) ^ c
        shares.append((x, y.to_bytes(16, "big")))
    return shares


@cache
def _lagrange_at_zero(xs: tuple[int, ...]) -> tuple[int, ...]:
    """Per share index, its Lagrange coefficient at 0 (cached: a recall combines many secrets over the same
    agents)."""
    out = []
    for j, xj in enumerate(xs):
        numerator, denominator = 1, 1
        for m, xm in enumerate(xs):
            if m != j:
                numerator = gf_mul(numerator, xm)
                denominator = gf_mul(denominator, xm ^ xj)
        out.append(gf_mul(numerator, gf_inv(denominator)))
    return tuple(out)


def combine(shares: Sequence[tuple[int, bytes]], k: int) -> bytes:
    """The secret from at least k shares (the first k distinct ones are used)."""
    distinct = dict(shares)
    if len(distinct) != len(shares):
        raise ShamirError("repeated share index")
    if len(distinct) < k:
        raise ShamirError(f"{len(distinct)} share(s), {k} needed")
    chosen = sorted(distinct.items())[:k]
    if any(not 1 <= x <= 255 for x, _ in chosen):
        raise ShamirError("share index out of range")
    coefficients = _lagrange_at_zero(tuple(x for x, _ in chosen))
    secret = 0
    for (_, y), c in zip(chosen, coefficients, strict=True):
        secret ^= gf_mul(int.from_bytes(y, "big"), c)
    return (secret & _MASK).to_bytes(16, "big")
