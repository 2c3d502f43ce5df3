"""Checks over what Huddle answered: a lock history replayed, presence against a model.

`check_locks` replays a workspace's event log (oldest first, as `GET .../sync/events` pages it
or as one observer received it, events of other types ignored) and reports:

- two holders of one entity at once (`lock.acquired` while the entity is held);
- a fencing token of a grant not strictly larger than every earlier grant's in the workspace;
- a refresh or an end (`lock.released`, `lock.expired`, `lock.force_released`) that does not
  match the current holder and token;
- a grant a client was told (entity, user, token) that the log never shows (`lock.acquired`
  or, for a re-entrant acquire or a refresh, `lock.refreshed` with that token).

The log must be whole from before the first lock event of the run (a trimmed log starts
mid-lease). `check_presence` compares Huddle's presence answers with the harness's model.
Both return a list of problems, empty when all is well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar

__all__ = ["Entity", "check_locks", "check_presence", "entity_key"]

Entity = tuple[str, str] | str
"""`(entity_type, entity_id)` or `"entity_type/entity_id"`."""
ModelKey = TypeVar("ModelKey", tuple[str, str], str, Entity)
SeenKey = TypeVar("SeenKey", tuple[str, str], str, Entity)

_GRANTS: Final = ("lock.acquired", "lock.refreshed")
_ENDS: Final = ("lock.released", "lock.expired", "lock.force_released")
_MAX_PROBLEMS: Final = 50


def entity_key(entity: Entity) -> str:
    """`"entity_type/entity_id"` for either spelling of an entity."""
    return entity if isinstance(entity, str) else f"{entity[0]}/{entity[1]}"


def check_locks(
    events: Iterable[Mapping[str, Any]], told_grants: Iterable[tuple[Entity, str, int]] = ()
) -> list[str]:
    """Problems of a lock history (see the module docstring); at most 50 are listed."""
    problems: list[str] = []
    holders: dict[tuple[str, str], tuple[str, int]] = {}  # (workspace, entity) -> user, token
    top_token: dict[str, int] = {}  # workspace -> largest token granted so far
    logged: set[tuple[str, str, int]] = set()  # (entity, user, token) granted in the log
    for event in events:
        kind = event.get("type", "")
        if not kind.startswith("lock."):
            continue
        data = event.get("data") or {}
        ws = f"{event.get('org_id', '')}/{event.get('workspace_id', '')}"
        entity = entity_key((str(data.get("entity_type")), str(data.get("entity_id"))))
        user = str(data.get("user_id"))
        token = data.get("fencing_token")
        where = f"event {event.get('id')} ({kind} {entity} by {user}, token {token})"
        if not isinstance(token, int):
            problems.append(f"{where}: no integer fencing token")
            continue
        holder = holders.get((ws, entity))
        if kind == "lock.acquired":
            if holder is not None:
                problems.append(
                    f"{where}: two holders, {holder[0]} (token {holder[1]}) still holds it"
                )
            top = top_token.get(ws)
            if top is not None and token <= top:
                problems.append(
                    f"{where}: fencing token not increasing in {ws} (an earlier grant had {top})"
                )
            top_token[ws] = max(token, top or token)
            holders[(ws, entity)] = (user, token)
            logged.add((entity, user, token))
        elif kind == "lock.refreshed":
            if holder != (user, token):
                problems.append(f"{where}: refresh of a lease not held ({_held(holder)})")
            logged.add((entity, user, token))
        elif kind in _ENDS:
            if holder is None or holder[1] != token:
                problems.append(f"{where}: end of a lease not held ({_held(holder)})")
            else:
                del holders[(ws, entity)]
        else:
            problems.append(f"{where}: unknown lock event type")
    for told_entity, user, token in told_grants:
        grant = (entity_key(told_entity), user, token)
        if grant not in logged:
            problems.append(f"grant told to a client not in the log: {grant[0]} {user} {token}")
    return _capped(problems)


def _held(holder: tuple[str, int] | None) -> str:
    return "free" if holder is None else f"held by {holder[0]} with token {holder[1]}"


def _capped(problems: list[str]) -> list[str]:
    if len(problems) <= _MAX_PROBLEMS:
        return problems
    return [*problems[:_MAX_PROBLEMS], f"... and {len(problems) - _MAX_PROBLEMS} more"]


def check_presence(
    model: Mapping[ModelKey, Mapping[str, int] | Iterable[str]],
    observed: Mapping[SeenKey, Mapping[str, Any]] | Sequence[Mapping[str, Any]],
) -> list[str]:
    """Problems of presence answers against the harness's model, at quiescence.

    `model`: per entity, its viewers as `{user_id: sessions viewing it}` (or just the user
    ids, when sessions are not modelled); an entity not in the model has no viewer.
    `observed`: Huddle's answers, per entity or as a list (`POST .../presence/summary`'s
    `entities`): the viewers answer (`viewers`, `count`, `sessions`) or the count answer
    (`count`, `sessions`). Every observed entity must match exactly: `count` = distinct users,
    `sessions` = sessions, the viewer list = the users, each once, with their sessions."""
    expected: dict[str, dict[str, int | None]] = {}
    for entity, viewers in model.items():
        if isinstance(viewers, Mapping):
            expected[entity_key(entity)] = {u: int(n) for u, n in viewers.items() if n}
        else:
            expected[entity_key(entity)] = dict.fromkeys(viewers)
    if isinstance(observed, Mapping):
        answers = [(entity_key(entity), answer) for entity, answer in observed.items()]
    else:
        answers = [(entity_key((a["entityType"], a["entityId"])), a) for a in observed]
    problems: list[str] = []
    for key, answer in answers:
        want = expected.get(key, {})
        sessions = None if None in want.values() else sum(n or 0 for n in want.values())
        if answer.get("count") != len(want):
            problems.append(f"{key}: count {answer.get('count')}, model {len(want)}")
        if sessions is not None and "sessions" in answer and answer["sessions"] != sessions:
            problems.append(f"{key}: sessions {answer['sessions']}, model {sessions}")
        if "viewers" not in answer:
            continue
        listed = [v.get("userId", v.get("user_id")) for v in answer["viewers"]]
        if sorted(map(str, listed)) != sorted(want):
            problems.append(f"{key}: viewers {sorted(map(str, listed))}, model {sorted(want)}")
            continue
        for viewer in answer["viewers"]:
            user = str(viewer.get("userId", viewer.get("user_id")))
            n = want[user]
            if n is not None and "sessions" in viewer and viewer["sessions"] != n:
                problems.append(f"{key}: {user} has {viewer['sessions']} sessions, model {n}")
    return _capped(problems)
