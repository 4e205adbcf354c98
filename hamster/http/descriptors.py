"""The file descriptor budget: how many connections the process can serve
and still open its files.

Every connection holds its socket and, while it reads or writes an object,
blob files: a PUT or UploadPart one (its temporary file), a GET of a
multipart object two (its first part and the current one), a copy from a
multipart source three (those two and the destination). Three per
connection covers the socket and two files; the reserve absorbs the rarer
copies. LevelDB keeps up to `max_open_files` table files open, and the
process needs a few more (stdio, listeners, trio's epoll and wakeup
descriptors, LevelDB's log, manifest and lock, a directory while it is
fsynced). So at start (`budget_descriptors`):

1. the soft RLIMIT_NOFILE is raised to the hard limit (`raise_nofile_limit`);
2. LevelDB gets an eighth of it, between LevelDB's own floor (74) and its
   default (1000);
3. the connection cap is what is left after `RESERVED_FDS` and LevelDB,
   divided by `FDS_PER_CONNECTION`: a configured ``--max-connections`` above
   that is lowered, and the log says so once.

Running out anyway (another process holding the system's descriptors:
ENFILE) is answered 503 SlowDown (hamster/api/storage_errors.py), never 500;
a limit too low to serve one connection is a configuration error.
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass

from hamster.config import ConfigError

log = logging.getLogger("hamster.http")

__all__ = [
    "FDS_PER_CONNECTION",
    "RESERVED_FDS",
    "DescriptorBudget",
    "budget_descriptors",
    "plan_descriptors",
    "raise_nofile_limit",
]

# The socket and up to two blob files.
FDS_PER_CONNECTION = 3
# Everything but connections and LevelDB's table files.
RESERVED_FDS = 64
# LevelDB clamps max_open_files to at least 64 + 10 and defaults to 1000.
METADATA_FILES_MIN = 74
METADATA_FILES_MAX = 1000
# Where the hard limit is unlimited, the soft limit is raised this far.
UNLIMITED_TARGET = 1 << 20


@dataclass(frozen=True)
class DescriptorBudget:
    """How the process's descriptors are shared (`plan_descriptors`)."""

    limit: int  # the soft RLIMIT_NOFILE the server runs with
    max_connections: int  # the connection cap that fits
    metadata_files: int  # LevelDB's max_open_files
    configured_connections: int  # the cap asked for (--max-connections)

    @property
    def lowered(self) -> bool:
        return self.max_connections < self.configured_connections


def plan_descriptors(limit: int, max_connections: int) -> DescriptorBudget:
    """The budget of a process allowed `limit` descriptors, asked to serve
    `max_connections` at once (see the module docstring)."""
    assert limit > 0 and max_connections > 0
    metadata = min(max(limit // 8, METADATA_FILES_MIN), METADATA_FILES_MAX)
    fit = (limit - RESERVED_FDS - metadata) // FDS_PER_CONNECTION
    if fit < 1:
        raise ConfigError(
            f"RLIMIT_NOFILE is {limit}: too few file descriptors to serve (at least "
            f"{RESERVED_FDS + METADATA_FILES_MIN + FDS_PER_CONNECTION} are needed); "
            "raise it (ulimit -n, LimitNOFILE= in the systemd unit)"
        )
    return DescriptorBudget(
        limit=limit,
        max_connections=min(max_connections, fit),
        metadata_files=metadata,
        configured_connections=max_connections,
    )


def raise_nofile_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard one (as far as the kernel
    lets); returns (soft, hard) afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise RLIMIT_NOFILE from %d to %d: %s", soft, target, exc)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


def budget_descriptors(max_connections: int) -> DescriptorBudget:
    """Raise the descriptor limit and plan within it (ConfigError if it is
    too low to serve); logs one line, a warning when the configured
    connection cap had to be lowered."""
    soft, hard = raise_nofile_limit()
    limit = UNLIMITED_TARGET if soft == resource.RLIM_INFINITY else soft
    budget = plan_descriptors(limit, max_connections)
    if budget.lowered:
        log.warning(
            "connection cap lowered from %d to %d: RLIMIT_NOFILE is %d (hard %s); each "
            "connection may hold %d descriptors, %d are kept for the server and %d for the "
            "metadata store",
            budget.configured_connections,
            budget.max_connections,
            budget.limit,
            "unlimited" if hard == resource.RLIM_INFINITY else hard,
            FDS_PER_CONNECTION,
            RESERVED_FDS,
            budget.metadata_files,
        )
    else:
        log.info(
            "file descriptors: RLIMIT_NOFILE %d, connection cap %d, metadata store %d",
            budget.limit,
            budget.max_connections,
            budget.metadata_files,
        )
    return budget
