"""The lock and presence checkers pass a correct history and flag fabricated ones."""

from __future__ import annotations

from typing import Any

from loadtests.checks import Entity, check_locks, check_presence

_seq = iter(range(1, 10_000))


def lock(kind: str, entity: str, user: str, token: int, ws: str = "ws1") -> dict[str, Any]:
    seq = next(_seq)
    entity_type, entity_id = entity.split("/")
    return {
        "id": f"ep:{seq}",
        "seq": seq,
        "type": f"lock.{kind}",
        "org_id": "acme",
        "workspace_id": ws,
        "data": {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "user_id": user,
            "fencing_token": token,
        },
    }


def correct_history() -> list[dict[str, Any]]:
    return [
        lock("acquired", "deal/1", "ana", 1),
        {"id": "ep:x", "type": "presence.joined", "data": {}},  # other types are ignored
        lock("acquired", "deal/2", "ben", 2),
        lock("refreshed", "deal/1", "ana", 1),
        lock("released", "deal/1", "ana", 1),
        lock("acquired", "deal/1", "ben", 3),
        lock("expired", "deal/2", "ben", 2),
        lock("acquired", "deal/2", "cy", 4),
        lock("force_released", "deal/1", "ben", 3),
        lock("acquired", "deal/1", "ana", 1, ws="ws2"),  # tokens are per workspace
    ]


TOLD: list[tuple[Entity, str, int]] = [
    (("deal", "1"), "ana", 1),
    ("deal/1", "ben", 3),
    ("deal/2", "cy", 4),
]


def test_a_correct_history_passes() -> None:
    assert check_locks(correct_history(), TOLD) == []


def test_two_holders_at_once_are_flagged() -> None:
    events = [lock("acquired", "deal/1", "ana", 1), lock("acquired", "deal/1", "ben", 2)]
    problems = check_locks(events)
    assert len(problems) == 1
    assert "two holders" in problems[0] and "ana" in problems[0]


def test_a_stale_or_repeated_token_is_flagged() -> None:
    stale = [lock("acquired", "deal/1", "ana", 5), lock("acquired", "deal/2", "ben", 4)]
    repeated = [lock("acquired", "deal/1", "ana", 5), lock("acquired", "deal/2", "ben", 5)]
    for events in (stale, repeated):
        problems = check_locks(events)
        assert len(problems) == 1
        assert "not increasing" in problems[0]


def test_a_grant_told_but_not_logged_is_flagged() -> None:
    problems = check_locks(correct_history(), [*TOLD, ("deal/9", "ana", 7), ("deal/1", "cy", 3)])
    assert problems == [
        "grant told to a client not in the log: deal/9 ana 7",
        "grant told to a client not in the log: deal/1 cy 3",
    ]


def test_refreshes_and_ends_must_match_the_holder() -> None:
    events = [
        lock("acquired", "deal/1", "ana", 1),
        lock("refreshed", "deal/1", "ben", 1),
        lock("released", "deal/1", "ana", 9),
        lock("released", "deal/3", "ana", 1),
    ]
    problems = check_locks(events)
    assert len(problems) == 3
    assert "refresh of a lease not held" in problems[0]
    assert all("end of a lease not held" in p for p in problems[1:])


MODEL: dict[Entity, dict[str, int]] = {
    ("deal", "1"): {"ana": 2, "ben": 1},
    "deal/2": {"cy": 1},
    "deal/3": {},
}


def viewers(entity: str, users: dict[str, int]) -> dict[str, Any]:
    entity_type, entity_id = entity.split("/")
    return {
        "entityType": entity_type,
        "entityId": entity_id,
        "viewers": [{"userId": u, "name": None, "sessions": n} for u, n in users.items()],
        "count": len(users),
        "sessions": sum(users.values()),
    }


def test_presence_equal_to_the_model_passes() -> None:
    observed = [viewers("deal/1", {"ben": 1, "ana": 2}), viewers("deal/2", {"cy": 1})]
    assert check_presence(MODEL, observed) == []
    counts = {"deal/3": {"count": 0, "sessions": 0}, "deal/4": {"count": 0, "sessions": 0}}
    assert check_presence(MODEL, counts) == []
    assert (
        check_presence({"deal/1": ["ana", "ben"]}, [viewers("deal/1", {"ana": 3, "ben": 1})]) == []
    )


def test_a_wrong_count_or_viewer_list_is_flagged() -> None:
    wrong_count = viewers("deal/1", {"ana": 2, "ben": 1}) | {"count": 3}
    assert check_presence(MODEL, [wrong_count]) == ["deal/1: count 3, model 2"]
    assert check_presence(MODEL, {"deal/2": {"count": 0, "sessions": 0}}) == [
        "deal/2: count 0, model 1",
        "deal/2: sessions 0, model 1",
    ]
    ghost = viewers("deal/3", {"dan": 1})
    assert check_presence(MODEL, [ghost]) == [
        "deal/3: count 1, model 0",
        "deal/3: sessions 1, model 0",
        "deal/3: viewers ['dan'], model []",
    ]
    extra_session = viewers("deal/1", {"ana": 3, "ben": 1})
    assert check_presence(MODEL, [extra_session]) == [
        "deal/1: sessions 4, model 3",
        "deal/1: ana has 3 sessions, model 2",
    ]
    twice = viewers("deal/2", {"cy": 1})
    twice["viewers"] = twice["viewers"] * 2
    assert check_presence(MODEL, [twice]) == ["deal/2: viewers ['cy', 'cy'], model ['cy']"]
