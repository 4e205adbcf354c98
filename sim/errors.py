"""The simulator's own exceptions."""

from __future__ import annotations


class SimCrash(BaseException):
    """The instance this filesystem or metadata view belongs to has crashed.

    Raised into every later operation of a dead view (and of files opened
    through it). A BaseException, not an Exception or OSError: the store's
    cleanup (`except OSError`, `except Exception`) must not swallow it and
    carry on as if the dead instance were alive.
    """
