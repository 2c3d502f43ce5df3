"""Public ids: a record id of a collection becomes a version-8 UUID and back, for that
collection and secret only; anything else decodes to None."""

from __future__ import annotations

import itertools
import random
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huddle.config import DEV_ID_SECRET, Settings
from huddle.ids import OrgId, WorkspaceId, WorkspaceKey
from huddle.public_ids import MAX_ID, PublicIds

SECRET = b"test-public-id-secret-0123456789"
IDS = PublicIds(SECRET)


def test_ids_round_trip_over_the_whole_range() -> None:
    """1, 2**53 - 1 and a spread of ids between come back from their UUIDs."""
    rng = random.Random(4)
    ids = [1, 2, 3, 255, 2**32, MAX_ID - 1, MAX_ID, *(rng.randint(1, MAX_ID) for _ in range(2000))]
    for record_id in ids:
        assert IDS.decode("post", IDS.encode("post", record_id)) == record_id


@given(st.integers(1, MAX_ID), st.text(max_size=40))
def test_any_id_of_any_collection_round_trips(record_id: int, collection: str) -> None:
    assert IDS.decode(collection, IDS.encode(collection, record_id)) == record_id


def test_a_public_id_is_a_lowercase_version_8_rfc_uuid() -> None:
    for record_id in (1, 2, 99, MAX_ID):
        text = IDS.encode("post", record_id)
        parsed = uuid.UUID(text)
        assert parsed.version == 8
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_uppercase_is_accepted() -> None:
    assert IDS.decode("post", IDS.encode("post", 42).upper()) == 42


def test_another_collections_id_decodes_to_none() -> None:
    """The same id of two collections has two UUIDs, and neither decodes in the other."""
    for record_id in range(1, 2001):
        post = IDS.encode("post", record_id)
        assert post != IDS.encode("news", record_id)
        assert IDS.decode("news", post) is None


def version_8(bits: int) -> int:
    """`bits` with the version nibble 8 and the RFC variant (uuid.UUID knows only 1 to 5)."""
    bits &= ~((0xF << 76) | (0b11 << 62))
    return bits | (0x8 << 76) | (0b10 << 62)


def test_random_uuids_decode_to_none() -> None:
    """10,000 random UUIDs (of every version, and version 8 with the right variant) are
    refused: the 69-bit tag makes a false positive a 2**-69 event."""
    rng = random.Random(7)
    guesses = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(5000)]
    guesses += [uuid.UUID(int=version_8(rng.getrandbits(128))) for _ in range(5000)]
    assert all(g.version == 8 and g.variant == uuid.RFC_4122 for g in guesses[5000:])
    assert [g for g in guesses if IDS.decode("post", str(g)) is not None] == []


def test_changing_any_one_hex_digit_decodes_to_none() -> None:
    text = IDS.encode("post", 1234)
    for at, digit in enumerate(text):
        if digit == "-":
            continue
        for other in "0123456789abcdef":
            if other != digit:
                tampered = text[:at] + other + text[at + 1 :]
                assert IDS.decode("post", tampered) is None, (at, other)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a uuid",
        "{3fa85f64-5717-8562-b3fc-2c963f66afa6}",
        "urn:uuid:3fa85f64-5717-8562-b3fc-2c963f66afa6",
        "3fa85f6457178562b3fc2c963f66afa6",
        "3fa85f64-5717-8562-b3fc-2c963f66afa",
        "3fa85f64-5717-8562-b3fc-2c963f66afa6 ",
        "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
    ],
)
def test_other_forms_decode_to_none(text: str) -> None:
    assert IDS.decode("post", text) is None


def test_braced_and_bare_forms_of_a_real_public_id_decode_to_none() -> None:
    text = IDS.encode("post", 5)
    assert IDS.decode("post", "{" + text + "}") is None
    assert IDS.decode("post", text.replace("-", "")) is None


def test_consecutive_ids_do_not_look_sequential() -> None:
    """Neighbouring ids share no prefix beyond chance, and their order is not kept."""
    texts = [IDS.encode("post", record_id) for record_id in range(1, 201)]
    assert len(set(texts)) == 200
    assert texts != sorted(texts)
    shared = [a[:4] == b[:4] for a, b in itertools.pairwise(texts)]
    assert sum(shared) < 5


def test_the_same_secret_gives_the_same_ids_in_every_instance() -> None:
    again = PublicIds(bytes(SECRET))
    for record_id in (1, 7, MAX_ID):
        assert again.encode("post", record_id) == IDS.encode("post", record_id)
        assert again.decode("post", IDS.encode("post", record_id)) == record_id


def test_another_secret_gives_other_ids_that_do_not_decode() -> None:
    other = PublicIds(b"another-secret-of-32-bytes-long!")
    for record_id in range(1, 501):
        text = IDS.encode("post", record_id)
        assert other.encode("post", record_id) != text
        assert other.decode("post", text) is None


@pytest.mark.parametrize("bad", [0, -1, MAX_ID + 1, True, 1.0, "1"])
def test_only_record_ids_are_encoded(bad: object) -> None:
    with pytest.raises(ValueError, match="record id"):
        IDS.encode("post", bad)  # type: ignore[arg-type]


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        PublicIds(b"short")


def test_many_collections_keep_working_past_the_key_cache() -> None:
    for n in range(600):
        assert IDS.decode(f"obj:{n}", IDS.encode(f"obj:{n}", n + 1)) == n + 1


def test_the_setting_is_a_masked_secret_with_a_published_dev_default() -> None:
    settings = Settings()
    assert settings.id_secret.get_secret_value() == DEV_ID_SECRET
    assert DEV_ID_SECRET not in repr(settings)
    chosen = Settings(id_secret="a-production-secret-0123456789")
    assert chosen.id_secret.get_secret_value() == "a-production-secret-0123456789"
    assert "a-production-secret" not in repr(chosen)
    with pytest.raises(ValueError, match="16 bytes"):
        Settings(id_secret="short")


def test_the_secret_comes_from_huddle_id_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUDDLE_ID_SECRET", "from-the-environment-0123456789")
    secret = Settings().id_secret.get_secret_value().encode()
    assert PublicIds(secret).encode("post", 1) != PublicIds(DEV_ID_SECRET.encode()).encode(
        "post", 1
    )


def test_ids_are_per_workspace_and_never_cross_tenants() -> None:
    acme = IDS.in_workspace(WorkspaceKey(OrgId("acme"), WorkspaceId("acme")))
    globex = IDS.in_workspace(WorkspaceKey(OrgId("globex"), WorkspaceId("globex")))
    for record_id in (1, 2, 77):
        mine = acme.encode("wd_user", record_id)
        assert mine != globex.encode("wd_user", record_id)
        assert acme.decode("wd_user", mine) == record_id
        assert globex.decode("wd_user", mine) is None
        assert IDS.decode("wd_user", mine) is None
