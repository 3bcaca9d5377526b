"""CIDs and the UnixFS file layout of Kubo's `ipfs add --cid-version=1` (raw leaves, 256 KiB chunks, balanced
DAG of at most 174 links per node, sha2-256), computed without a node. Pure functions.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final

RAW: Final = 0x55
DAG_PB: Final = 0x70
SHA2_256: Final = 0x12
CHUNK_SIZE: Final = 256 * 1024
MAX_LINKS: Final = 174


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """(value, next position)"""
    shift = value = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


@dataclass(frozen=True)
class Cid:
    """A CIDv1 with a sha2-256 multihash."""

    codec: int
    digest: bytes

    @classmethod
    def of(cls, codec: int, block: bytes) -> Cid:
        return cls(codec, hashlib.sha256(block).digest())

    @property
    def binary(self) -> bytes:
        return varint(1) + varint(self.codec) + varint(SHA2_256) + varint(len(self.digest)) + self.digest

    def __str__(self) -> str:
        return "b" + base64.b32encode(self.binary).decode().lower().rstrip("=")

    @classmethod
    def parse(cls, text: str) -> Cid:
        if not text.startswith("b"):
            raise ValueError(f"only base32 CIDv1 strings are supported, got {text[:8]!r}")
        body = text[1:].upper()
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
        return cls.from_binary(raw)

    @classmethod
    def from_binary(cls, raw: bytes) -> Cid:
        version, pos = read_varint(raw, 0)
        codec, pos = read_varint(raw, pos)
        hash_code, pos = read_varint(raw, pos)
        length, pos = read_varint(raw, pos)
        if version != 1 or hash_code != SHA2_256 or length != 32 or len(raw) != pos + 32:
            raise ValueError("not a CIDv1 with a sha2-256 multihash")
        return cls(codec, raw[pos:])


def _field(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def _bytes_field(number: int, value: bytes) -> bytes:
    return _field(number, 2) + varint(len(value)) + value


@dataclass(frozen=True)
class Link:
    cid: Cid
    tsize: int  # bytes of every block under the link
    content_size: int  # bytes of file content under the link


def file_node(links: list[Link]) -> bytes:
    """A dag-pb UnixFS File node over `links` (links first, then Data, as dag-pb requires)."""
    unixfs = _field(1, 0) + varint(2)  # Type = File
    unixfs += _field(3, 0) + varint(sum(link.content_size for link in links))  # filesize
    for link in links:
        unixfs += _field(4, 0) + varint(link.content_size)  # blocksizes
    out = b""
    for link in links:
        pb_link = _bytes_field(1, link.cid.binary) + _bytes_field(2, b"") + _field(3, 0) + varint(link.tsize)
        out += _bytes_field(2, pb_link)
    return out + _bytes_field(1, unixfs)


def node_links(block: bytes) -> list[Cid]:
    """The child CIDs of a dag-pb node, in order."""
    out: list[Cid] = []
    pos = 0
    while pos < len(block):
        key, pos = read_varint(block, pos)
        length, pos = read_varint(block, pos)
        value = block[pos : pos + length]
        pos += length
        if key == (2 << 3 | 2):
            lpos = 0
            while lpos < len(value):
                lkey, lpos = read_varint(value, lpos)
                if lkey & 7 == 0:
                    _, lpos = read_varint(value, lpos)
                    continue
                llen, lpos = read_varint(value, lpos)
                if lkey == (1 << 3 | 2):
                    out.append(Cid.from_binary(value[lpos : lpos + llen]))
                lpos += llen
    return out


def build_dag(leaves: Iterable[bytes]) -> Iterator[tuple[Cid, bytes]]:
    """Every block of the file made of `leaves` (256 KiB chunks), children before parents; the last block
    yielded is the root. A file of one chunk (or none) is a single raw block.
    """
    level: list[Link] = []
    for data in leaves:
        cid = Cid.of(RAW, data)
        yield cid, data
        level.append(Link(cid, len(data), len(data)))
    if not level:
        yield Cid.of(RAW, b""), b""
        return
    if len(level) == 1:
        return
    while len(level) > 1:
        parents: list[Link] = []
        for i in range(0, len(level), MAX_LINKS):
            group = level[i : i + MAX_LINKS]
            block = file_node(group)
            cid = Cid.of(DAG_PB, block)
            yield cid, block
            parents.append(Link(cid, len(block) + sum(g.tsize for g in group), sum(g.content_size for g in group)))
        level = parents


def cid_of_stream(stream: BinaryIO) -> str:
    """`cid_of_bytes` of a stream's content, read in chunks (a large file is never held whole)."""
    *_, (root, _) = build_dag(iter(lambda: stream.read(CHUNK_SIZE), b""))
    return str(root)


def cid_of_bytes(data: bytes) -> str:
    """The CID Kubo gives `data` with `ipfs add --cid-version=1`."""
    pieces = [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)]
    *_, (root, _) = build_dag(pieces)
    return str(root)
