"""The reference model: what a correct store may answer, given what its
clients were told.

Every write is registered *before* it is sent (`begin`): its outcome is
possible from then on. A definitive answer narrows the possibilities: an
acknowledgement makes the write's result the only possibility (`ack`), a
refusal removes it (`refuse`); an answer that never came leaves it possible
(`lose`). A read narrows them to what it saw (`check_read`): the store
answered it, so a later answer must agree -- except for writes whose answer
was an error or never came since the instance started ("in doubt"): their
metadata batch may be in LevelDB's log without being readable (a failed
write is not in the memtable, but "may or may not show up when the DB is
re-opened"), so they stay possible until a recovery has run (`recovered`)
or a later write of the key is acknowledged.

Operations on one key are serialised by the simulated clients (a lock per
key), so "possible" is a small set per key, not a history; different keys
run concurrently. Multipart uploads are modelled per upload id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = ["Model", "Part", "Upload", "Version", "md5_etag", "multipart_etag"]


def md5_etag(body: bytes) -> str:
    return f'"{hashlib.md5(body).hexdigest()}"'


def multipart_etag(parts: list[bytes]) -> str:
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


@dataclass(frozen=True)
class Version:
    """One object value: its bytes and the ETag it was acknowledged with
    (None: the write's answer was lost, so its ETag is unknown)."""

    body: bytes
    etag: str | None
    tag: str  # which write made it (for traces)

    def matches(self, body: bytes, etag: str | None) -> bool:
        return body == self.body and (self.etag is None or etag == self.etag)

    def __repr__(self) -> str:
        return f"<{self.tag} {len(self.body)}B {self.etag}>"


# A key's possible states: a Version, or None for "no object".
State = Version | None


@dataclass(frozen=True)
class Part:
    body: bytes
    etag: str
    tag: str

    def __repr__(self) -> str:
        return f"<part {self.tag} {len(self.body)}B>"


@dataclass
class Upload:
    key: str
    upload_id: str
    # Possible states per part number (None: no such part).
    parts: dict[int, list[Part | None]] = field(default_factory=dict)
    # open: must be listed; ending: a complete or abort is in flight or lost,
    # so it may be gone; gone: acknowledged completed or aborted.
    status: str = "open"


class Model:
    def __init__(self) -> None:
        self.keys: dict[str, list[State]] = {}
        # Writes answered with an error, or not at all, since the last recovery.
        self.in_doubt: dict[str, list[State]] = {}
        self.uploads: dict[str, Upload] = {}
        # Creates of uploads whose answer (and so whose id) never came, by key.
        self.unknown_creates: dict[str, int] = {}

    # --- objects -------------------------------------------------------------

    def possible(self, key: str) -> list[State]:
        return self.keys.setdefault(key, [None])

    def begin(self, key: str, state: State) -> None:
        states = self.possible(key)
        if state not in states:
            states.append(state)

    def ack(self, key: str, state: State) -> None:
        self.keys[key] = [state]
        self.in_doubt.pop(key, None)  # earlier in the log: superseded

    def refuse(self, key: str, state: State) -> None:
        states = self.possible(key)
        if state in states and len(states) > 1:
            states.remove(state)
        doubts = self.in_doubt.get(key, [])
        if state in doubts:
            doubts.remove(state)

    def lose(self, key: str, state: State) -> None:
        """The answer never came: the write may have happened. Said again
        after the answer is lost, since a check may have narrowed the key
        while the request waited to be sent."""
        self.begin(key, state)
        doubts = self.in_doubt.setdefault(key, [])
        if state not in doubts:
            doubts.append(state)

    def recovered(self) -> None:
        """A fresh instance recovered: nothing is in doubt any more."""
        self.in_doubt.clear()

    def _narrow(self, key: str, seen: State) -> None:
        self.keys[key] = [seen] + [s for s in self.in_doubt.get(key, []) if s != seen]

    def certain(self, key: str) -> State | list[State]:
        """The key's one possible state, or the list when there are several."""
        states = self.possible(key)
        return states[0] if len(states) == 1 else list(states)

    def check_read(self, key: str, status: int, body: bytes, etag: str | None) -> str | None:
        """Whether a GET's answer is possible; narrows the key to it. Returns
        the violation, or None."""
        states = self.possible(key)
        if status == 404:
            if None not in states:
                return f"GET {key}: 404, but it must be one of {states}"
            self._narrow(key, None)
            return None
        assert status == 200
        for state in states:
            if state is not None and state.matches(body, etag):
                self._narrow(
                    key, state if state.etag is not None else Version(body, etag, state.tag)
                )
                return None
        return (
            f"GET {key}: 200 with {len(body)} bytes, ETag {etag}, md5 {md5_etag(body)}, "
            f"but it must be one of {states}"
        )

    def present_keys(self) -> set[str]:
        """Keys that certainly have an object."""
        return {k for k, s in self.keys.items() if None not in s}

    # --- multipart -----------------------------------------------------------

    def begin_create(self, key: str) -> None:
        self.unknown_creates[key] = self.unknown_creates.get(key, 0) + 1

    def end_create(self, key: str, upload_id: str | None) -> None:
        """A create was answered: with its id, or refused (None)."""
        self.unknown_creates[key] -= 1
        if upload_id is not None:
            self.uploads[upload_id] = Upload(key, upload_id)

    def part_states(self, upload_id: str, number: int) -> list[Part | None]:
        return self.uploads[upload_id].parts.setdefault(number, [None])

    def begin_part(self, upload_id: str, number: int, part: Part) -> None:
        """A part upload is (or, lost, was) on its way: it may be there."""
        states = self.part_states(upload_id, number)
        if part not in states:
            states.append(part)
