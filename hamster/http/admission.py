"""Connection slots: who is admitted at the cap, and who makes room (no I/O).

Every connection holds a `Slot` from the server's `Admission` while it is
open. A slot is in one of these states:

- ``waiting``: nothing of its next request has arrived yet (a new connection
  that has not spoken, or a keep-alive connection between requests);
- ``head``: part of a request head has arrived, not all of it;
- ``busy``: a request is in flight (its head is complete, until its response
  has been written and the connection waits again);
- ``shed``: told to close to make room; it no longer counts;
- ``lingering``: answered, closing, waiting only for the client to close too.

At the global cap (``max_connections``), a new connection is admitted by
shedding the connection that has waited longest for its next (or first)
request: ``lingering`` slots first, then ``waiting`` ones, oldest wait first
(they cost their client nothing to reopen), then ``head`` slots, the one whose
head began first; a ``waiting`` or ``head`` slot only once it has waited
``min_wait_s``. A ``busy`` connection is never shed. The same happens within
one client address at ``max_per_client``, among that address's own connections. When
nothing can be shed, `Admission.admit` refuses (the server answers
``503 SlowDown`` and closes).

A slot's order among the waiting is the order it began to wait in: one
ordered dict per state (and per state and address) gives the oldest in O(1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum

import trio

__all__ = ["Admission", "Slot", "SlotState"]


class SlotState(Enum):
    LINGERING = "lingering"
    WAITING = "waiting"
    HEAD = "head"
    BUSY = "busy"
    SHED = "shed"
    RELEASED = "released"


class Slot:
    """One connection's place; the connection loop reports its state through
    `waiting`, the admission sheds it through `shed`.

    A slot made outside an `Admission` (``Slot()``) is never shed.
    """

    def __init__(self, peer: str | None = None, admission: Admission | None = None) -> None:
        self.peer = peer
        self.state = SlotState.WAITING
        self.since = 0.0  # when it began to wait, on the admission's clock
        self._admission = admission
        self._scope: trio.CancelScope | None = None

    @property
    def shed_called(self) -> bool:
        """True once the slot was shed: the connection must close at once."""
        return self.state is SlotState.SHED

    @contextmanager
    def waiting(self, *, head: bool, lingering: bool = False) -> Iterator[trio.CancelScope]:
        """While waiting for a request: the cancel scope that shedding cancels.

        Args:
          head: False while nothing of the request has arrived, True once
            part of its head has.
          lingering: the connection has answered its last request and only
            waits for the client to close: shed before anyone else.
        """
        with trio.CancelScope() as scope:
            self.watch(scope, head=head, lingering=lingering)
            try:
                yield scope
            finally:
                self.unwatch()

    def watch(self, scope: trio.CancelScope, *, head: bool, lingering: bool = False) -> None:
        """`waiting` without the context manager (the connection loop's hot
        path): the wait begins, and shedding cancels `scope` (at once if the
        slot was shed already). Call `unwatch` when the wait is over."""
        if self.state is SlotState.SHED:
            scope.cancel()
        self.began_waiting(head=head, lingering=lingering)
        self._scope = scope

    def unwatch(self) -> None:
        """The wait `watch` began is over."""
        self._scope = None
        self.stopped_waiting()

    def began_waiting(self, *, head: bool, lingering: bool = False) -> None:
        """The connection waits for (the rest of the head of) a request."""
        if self.state is SlotState.SHED:
            return
        assert self.state in (SlotState.WAITING, SlotState.BUSY), self.state
        if lingering:
            self._move(SlotState.LINGERING)
        else:
            self._move(SlotState.HEAD if head else SlotState.WAITING)

    def stopped_waiting(self) -> None:
        """The wait is over: a request head has come (or the connection ends)."""
        if self.state is not SlotState.SHED:
            self._move(SlotState.BUSY)

    def _move(self, state: SlotState) -> None:
        if self._admission is not None:
            self._admission._moved(self, state)
        else:
            self.state = state

    def shed(self) -> None:
        """Make the connection close (it is waiting, or has not begun yet)."""
        assert self.state in (SlotState.LINGERING, SlotState.WAITING, SlotState.HEAD), self.state
        self._move(SlotState.SHED)
        if self._scope is not None:
            self._scope.cancel()


class Admission:
    """The slots of one server.

    Args:
      max_connections: the global cap.
      max_per_client: the cap per client address (connections whose address
        is unknown only count toward the global cap).
      min_wait_s: a slot may be shed only once it has waited this long: one
        that has just begun to wait (a connection accepted a moment ago, whose
        request may already be in its socket; a keep-alive connection just
        answered, about to be reused) is not a fair victim.
      clock: the time (trio's clock in the server); needed when min_wait_s > 0.
    """

    def __init__(
        self,
        max_connections: int,
        max_per_client: int,
        *,
        min_wait_s: float = 0.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        assert max_connections > 0, max_connections
        assert max_per_client > 0, max_per_client
        assert min_wait_s >= 0, min_wait_s
        assert clock is not None or min_wait_s == 0
        self.max_connections = max_connections
        self.max_per_client = max_per_client
        self._min_wait_s = min_wait_s
        self._clock = clock
        self._live = 0
        self._live_by_peer: dict[str, int] = {}
        # Sheddable slots in the order they began to wait, per state; and per
        # (state, peer) for the per-client cap.
        self._queues: dict[SlotState, dict[Slot, None]] = {
            SlotState.LINGERING: {},
            SlotState.WAITING: {},
            SlotState.HEAD: {},
        }
        self._peer_queues: dict[tuple[SlotState, str], dict[Slot, None]] = {}

    @property
    def live(self) -> int:
        """Slots that count toward the cap (admitted, neither shed nor released)."""
        return self._live

    def live_for(self, peer: str) -> int:
        return self._live_by_peer.get(peer, 0)

    def oldest_waiting(self) -> Slot | None:
        """The slot that would be shed first, if any may be."""
        return self._oldest(None)

    def admit(self, peer: str | None) -> tuple[Slot | None, Slot | None]:
        """A slot for a new connection from `peer`, and the slot shed for it.

        Returns ``(None, None)`` when the connection must be refused: at a cap
        with nothing that may be shed.
        """
        victim: Slot | None = None
        if peer is not None and self.live_for(peer) >= self.max_per_client:
            victim = self._oldest(peer)
            if victim is None:
                return None, None
        elif self._live >= self.max_connections:
            victim = self._oldest(None)
            if victim is None:
                return None, None
        if victim is not None:
            victim.shed()
        slot = Slot(peer, self)
        self._live += 1
        if peer is not None:
            self._live_by_peer[peer] = self._live_by_peer.get(peer, 0) + 1
        self._enqueue(slot)
        return slot, victim

    def release(self, slot: Slot) -> None:
        """The slot's connection has ended."""
        assert slot._admission is self
        if slot.state is not SlotState.RELEASED:
            self._moved(slot, SlotState.RELEASED)

    def _oldest(self, peer: str | None) -> Slot | None:
        for state in (SlotState.LINGERING, SlotState.WAITING, SlotState.HEAD):
            queue = self._queues[state] if peer is None else self._peer_queues.get((state, peer))
            if queue:
                oldest = next(iter(queue))  # the queue is in order of `since`
                if (
                    state is SlotState.LINGERING
                    or self._clock is None
                    or self._clock() - oldest.since >= self._min_wait_s
                ):
                    return oldest
        return None

    def _moved(self, slot: Slot, state: SlotState) -> None:
        old = slot.state
        if old is state and state is SlotState.WAITING:
            return  # still waiting: keep its place (a new connection's first wait)
        assert old not in (SlotState.SHED, SlotState.RELEASED) or state is SlotState.RELEASED
        self._dequeue(slot)
        counted = old not in (SlotState.SHED, SlotState.RELEASED)
        slot.state = state
        if state in (SlotState.SHED, SlotState.RELEASED):
            if counted:
                self._live -= 1
                if slot.peer is not None:
                    left = self._live_by_peer[slot.peer] - 1
                    if left:
                        self._live_by_peer[slot.peer] = left
                    else:
                        del self._live_by_peer[slot.peer]
            return
        self._enqueue(slot)

    def _enqueue(self, slot: Slot) -> None:
        if slot.state not in self._queues:
            return
        if self._clock is not None:
            slot.since = self._clock()
        self._queues[slot.state][slot] = None
        if slot.peer is not None:
            self._peer_queues.setdefault((slot.state, slot.peer), {})[slot] = None

    def _dequeue(self, slot: Slot) -> None:
        if slot.state not in self._queues:
            return
        del self._queues[slot.state][slot]
        if slot.peer is not None:
            key = (slot.state, slot.peer)
            queue = self._peer_queues[key]
            del queue[slot]
            if not queue:
                del self._peer_queues[key]
