"""Public ids: a record's integer id shown to clients as a UUID, and read back.

Seed 004's clients see UUIDs as ids; the record store numbers records 1, 2, 3 ... per
collection. `PublicIds` maps `(collection, id)` to a UUID and back with nothing stored: the
UUID is the id encrypted under a key derived from a secret and the collection's name.

The scheme (version 1). An RFC 9562 version-8 UUID has 122 free bits (all but the version
nibble `8` and the variant bits `10`). They hold one 122-bit block, encrypted:

    block = tag (69 bits, all zero) ‖ id (53 bits: 1 to 2**53 - 1)
    key   = HMAC-SHA256(secret, "huddle.public-id.v1" ‖ 0x00 ‖ collection)
    UUID  = the free bits of Feistel_key(block), 4 rounds over two 61-bit halves,
            round i's function HMAC-SHA256(key, i ‖ half) cut to 61 bits

Decoding runs the network backwards and accepts the block only when its 69 tag bits are zero
and the id is at least 1. The network is a keyed permutation of all 2**122 blocks, so:

* consecutive ids give UUIDs that look unrelated (no order, no count shows through);
* a UUID made for another collection, or under another secret, or any other UUID, or one
  with a digit changed, decrypts to a block with a pseudo-random tag: it is refused except
  with probability 2**-69 per try (forging one without the secret is that guess).

What it costs: four HMAC-SHA256 calls per encode or decode (a collection's key is derived once
and kept, for at most `KEY_CACHE` pairs of workspace and collection), about 25 µs in CPython on
the shared 2-core development machine, so a page of 100 records about 2.5 ms; no storage, no
lookup. Ids are per workspace: `in_workspace(ws)` derives the key from the workspace too, so
the same record id in two workspaces (two WorkDrive organizations) shows two unrelated UUIDs,
and one workspace's UUID decodes to nothing in another (its 404 is a miss, never another
tenant's record). Changing the secret changes every public id ever handed out. With four
rounds the permutation is indistinguishable from random for well under 2**30 UUIDs seen of one
collection (the Luby-Rackoff bound q**2 / 2**61): ids are unguessable and unordered to any
realistic client, but this is obfuscation of a counter, not access control.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

from .ids import WorkspaceKey

#: The largest id a public id carries: JavaScript's MAX_SAFE_INTEGER, the store's limit too.
MAX_ID: Final = 2**53 - 1
MIN_SECRET_BYTES: Final = 16
ROUNDS: Final = 4
#: (Workspace, collection) pairs whose prepared round key a `PublicIds` keeps.
KEY_CACHE: Final = 4096

_ID_BITS: Final = 53
_HALF_BITS: Final = 61  # two halves: the 122 free bits of a version-8 UUID
_HALF_MASK: Final = (1 << _HALF_BITS) - 1
_CONTEXT: Final = b"huddle.public-id.v1\x00"
_FORM: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


class PublicIds:
    """Encodes record ids as UUIDs and back, for one secret. No I/O, no state beyond the
    secret (and a bounded cache of keys derived from it), so every node with the same secret
    gives the same answers."""

    __slots__ = ("_keys", "_secret")

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            # One known (collection, id, UUID) checks a guess of the secret offline.
            raise ValueError(f"a public id secret needs at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        # A collection's HMAC with its key already absorbed: each round copies it.
        self._keys: dict[str, hmac.HMAC] = {}

    def encode(self, collection: str, record_id: int) -> str:
        """The public id of record `record_id` of `collection`: a lowercase version-8 UUID.
        ValueError for an id outside 1 to 2**53 - 1."""
        if isinstance(record_id, bool) or not isinstance(record_id, int):
            raise ValueError(f"a record id is an integer, not {record_id!r}")
        if not 1 <= record_id <= MAX_ID:
            raise ValueError(f"a record id is 1 to {MAX_ID}, not {record_id}")
        key = self._key(collection)
        left, right = 0, record_id  # the tag, all zero, is the high bits of the block
        for round_ in range(ROUNDS):
            left, right = right, left ^ _round(key, round_, right)
        return _format((left << _HALF_BITS) | right)

    def decode(self, collection: str, text: str) -> int | None:
        """The record id `text` stands for in `collection`, or None when `text` is not a
        public id this scheme made for that collection with this secret (another form,
        another collection, a changed digit). Either case is accepted."""
        if not isinstance(text, str) or not _FORM.fullmatch(text):
            return None
        block = _free_bits(int(text.replace("-", ""), 16))
        if block is None:
            return None
        key = self._key(collection)
        left, right = block >> _HALF_BITS, block & _HALF_MASK
        for round_ in reversed(range(ROUNDS)):
            left, right = right ^ _round(key, round_, left), left
        plain = (left << _HALF_BITS) | right
        record_id = plain & MAX_ID
        if plain >> _ID_BITS or record_id < 1:
            return None
        return record_id

    def in_workspace(self, ws: WorkspaceKey) -> WorkspaceIds:
        """The public ids of one workspace's records."""
        return WorkspaceIds(self, f"{ws.org_id}\x1f{ws.workspace_id}\x1f")

    def _key(self, collection: str) -> hmac.HMAC:
        key = self._keys.get(collection)
        if key is None:
            if len(self._keys) >= KEY_CACHE:
                self._keys.clear()  # bounded; re-deriving a key costs one HMAC
            derived = hmac.digest(self._secret, _CONTEXT + collection.encode(), "sha256")
            key = self._keys[collection] = hmac.new(derived, digestmod=hashlib.sha256)
        return key

    def __repr__(self) -> str:
        return "PublicIds(secret=***)"


class WorkspaceIds:
    """`PublicIds` of one workspace: the collection's key is derived from the workspace too
    (a prefix no collection name can contain), so ids never cross tenants."""

    __slots__ = ("_ids", "_prefix")

    def __init__(self, ids: PublicIds, prefix: str) -> None:
        self._ids = ids
        self._prefix = prefix

    def encode(self, collection: str, record_id: int) -> str:
        return self._ids.encode(self._prefix + collection, record_id)

    def decode(self, collection: str, text: str) -> int | None:
        return self._ids.decode(self._prefix + collection, text)


def _round(key: hmac.HMAC, round_: int, half: int) -> int:
    mac = key.copy()
    mac.update(bytes((round_,)) + half.to_bytes(8, "big"))
    return int.from_bytes(mac.digest()[:8], "big") & _HALF_MASK


# UUID bits, most significant first: 48 free, version (4), 12 free, variant (2), 62 free.


def _format(block: int) -> str:
    """The version-8 UUID whose free bits are `block` (122 bits), as lowercase 8-4-4-4-12."""
    high, middle, low = block >> 74, (block >> 62) & 0xFFF, block & ((1 << 62) - 1)
    value = (high << 80) | (0x8 << 76) | (middle << 64) | (0b10 << 62) | low
    digits = f"{value:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _free_bits(value: int) -> int | None:
    """The 122 free bits of a version-8, RFC-variant UUID; None for any other."""
    if (value >> 76) & 0xF != 0x8 or (value >> 62) & 0b11 != 0b10:
        return None
    high, middle, low = value >> 80, (value >> 64) & 0xFFF, value & ((1 << 62) - 1)
    return (high << 74) | (middle << 62) | low
