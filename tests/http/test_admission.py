"""`Admission`: who is admitted at a cap and who is shed for it (no I/O).

Unit cases, and a hypothesis run of random admissions, state changes and
releases against a plain reference model (lists scanned in order).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st
from trio.testing import MockClock

from hamster.http.admission import Admission, Slot, SlotState


def admitted(admission: Admission, peer: str | None = None) -> Slot:
    slot, victim = admission.admit(peer)
    assert slot is not None and victim is None
    return slot


def busy(slot: Slot) -> None:
    """The connection's head arrived: it has a request in flight."""
    slot.began_waiting(head=False)
    slot.stopped_waiting()
    assert slot.state is SlotState.BUSY


def test_under_the_cap_every_connection_is_admitted_and_counted() -> None:
    admission = Admission(max_connections=3, max_per_client=3)
    slots = [admitted(admission, "a") for _ in range(3)]
    assert admission.live == 3
    assert admission.live_for("a") == 3
    admission.release(slots[0])
    assert admission.live == 2


def test_at_the_cap_the_connection_that_has_waited_longest_is_shed() -> None:
    admission = Admission(max_connections=2, max_per_client=2)
    first = admitted(admission)
    second = admitted(admission)
    slot, victim = admission.admit(None)
    assert slot is not None and victim is first
    assert first.shed_called and not second.shed_called
    assert admission.live == 2  # the shed one no longer counts


def test_a_keep_alive_connection_waits_again_at_the_back() -> None:
    admission = Admission(max_connections=2, max_per_client=2)
    first = admitted(admission)
    second = admitted(admission)
    busy(first)  # it was served...
    first.began_waiting(head=False)  # ...and waits again, after the second
    _, victim = admission.admit(None)
    assert victim is second


def test_a_busy_connection_is_never_shed_and_waiting_ones_go_before_partial_heads() -> None:
    admission = Admission(max_connections=3, max_per_client=3)
    old_head = admitted(admission)
    mid_request = admitted(admission)
    waiting = admitted(admission)
    busy(mid_request)
    old_head.began_waiting(head=True)
    newcomer, victim = admission.admit(None)
    assert victim is waiting  # younger, but nothing of its request arrived
    assert newcomer is not None
    busy(newcomer)
    newcomer, victim = admission.admit(None)
    assert victim is old_head
    assert newcomer is not None
    busy(newcomer)
    slot, victim = admission.admit(None)
    assert slot is None and victim is None  # the rest are busy: refuse
    assert not mid_request.shed_called


def test_the_per_client_cap_sheds_among_that_client_s_own_connections() -> None:
    admission = Admission(max_connections=10, max_per_client=2)
    other = admitted(admission, "b")  # older than a's, and waiting
    a1 = admitted(admission, "a")
    a2 = admitted(admission, "a")
    newest, victim = admission.admit("a")
    assert victim is a1 and not other.shed_called
    assert newest is not None
    busy(a2)
    busy(newest)
    slot, _ = admission.admit("a")
    assert slot is None  # both of a's are busy: nothing of its own to shed
    assert admitted(admission, "c") is not None  # others still get in


def test_a_slot_is_shed_only_once_it_has_waited_the_minimum() -> None:
    now = [0.0]
    admission = Admission(1, 1, min_wait_s=1.0, clock=lambda: now[0])
    first = admitted(admission)
    now[0] = 0.9
    assert admission.admit(None) == (None, None)  # too fresh to be a fair victim
    now[0] = 1.0
    _, victim = admission.admit(None)
    assert victim is first


def test_shedding_cancels_the_wait_and_a_shed_slot_cancels_every_later_wait() -> None:
    admission = Admission(max_connections=1, max_per_client=1)
    slot = admitted(admission)

    async def main() -> None:
        with trio.fail_after(10):  # on the MockClock: a missed cancel fails, never hangs
            await waits()

    async def waits() -> None:
        async with trio.open_nursery() as nursery:

            async def wait() -> None:
                with slot.waiting(head=False) as scope:
                    await trio.sleep_forever()
                assert scope.cancelled_caught

            nursery.start_soon(wait)
            await trio.testing.wait_all_tasks_blocked()
            admission.admit(None)
        with slot.waiting(head=True) as scope:
            await trio.sleep_forever()
        assert scope.cancelled_caught
        assert slot.state is SlotState.SHED

    trio.run(main, clock=MockClock(autojump_threshold=0))
    admission.release(slot)
    assert admission.live == 1


# ---- against a reference model ---------------------------------------------------------


@dataclass
class Model:
    cap: int
    per_client: int
    # (id, peer, state, since): since orders the waits
    slots: list[list[object]] = field(default_factory=list)
    clock: int = 0

    def live(self, peer: str | None = None) -> list[list[object]]:
        return [s for s in self.slots if peer is None or s[1] == peer]

    def oldest(self, peer: str | None) -> list[object] | None:
        for state in ("waiting", "head"):
            candidates = [s for s in self.live(peer) if s[2] == state]
            if candidates:
                return min(candidates, key=lambda s: s[3])  # type: ignore[arg-type, return-value]
        return None

    def admit(self, ident: int, peer: str) -> tuple[bool, int | None]:
        victim = None
        if len(self.live(peer)) >= self.per_client:
            victim = self.oldest(peer)
            if victim is None:
                return False, None
        elif len(self.slots) >= self.cap:
            victim = self.oldest(None)
            if victim is None:
                return False, None
        if victim is not None:
            self.slots.remove(victim)
        self.clock += 1
        self.slots.append([ident, peer, "waiting", self.clock])
        return True, None if victim is None else victim[0]  # type: ignore[return-value]


OPS = st.lists(
    st.tuples(
        st.sampled_from(["admit", "busy", "wait", "head", "release"]),
        st.sampled_from(["a", "b", "c"]),
        st.integers(min_value=0, max_value=20),
    ),
    max_size=60,
)


@given(ops=OPS, cap=st.integers(1, 5), per_client=st.integers(1, 5))
def test_admission_matches_the_reference_model(
    ops: list[tuple[str, str, int]], cap: int, per_client: int
) -> None:
    admission = Admission(cap, per_client)
    model = Model(cap, per_client)
    slots: dict[int, Slot] = {}
    next_id = 0
    for op, peer, pick in ops:
        if op == "admit":
            slot, victim = admission.admit(peer)
            ok, victim_id = model.admit(next_id, peer)
            assert (slot is not None) == ok
            assert (victim is None) == (victim_id is None)
            if victim_id is not None:
                assert victim is slots.pop(victim_id)
                assert victim is not None and victim.shed_called
            if slot is not None:
                slots[next_id] = slot
            next_id += 1
        elif model.slots:
            row = model.slots[pick % len(model.slots)]
            ident = row[0]
            assert isinstance(ident, int)
            slot = slots[ident]
            if op == "release":
                admission.release(slot)
                model.slots.remove(row)
                del slots[ident]
            elif op == "busy":
                slot.stopped_waiting()
                row[2] = "busy"
            else:
                if slot.state is not SlotState.BUSY:
                    slot.stopped_waiting()  # a wait always ends before the next begins
                    row[2] = "busy"
                slot.began_waiting(head=op == "head")
                model.clock += 1
                row[2], row[3] = ("head" if op == "head" else "waiting"), model.clock
        assert admission.live == len(model.slots)
        for name in ("a", "b", "c"):
            assert admission.live_for(name) == len(model.live(name))
