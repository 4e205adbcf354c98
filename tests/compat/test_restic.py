"""restic (Debian 12: 0.14, minio-go inside) against the real daemon."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.compat import harness
from tests.compat.harness import ACCESS_KEY, SECRET_KEY, Client, MiB, clean_env
from tests.daemon import Daemon


@pytest.fixture
def restic(server: Daemon, home: Path, bucket_name: str) -> Client:
    env = clean_env(
        home,
        {
            "RESTIC_REPOSITORY": f"s3:{server.endpoint}/{bucket_name}",
            "RESTIC_PASSWORD": "compat-restic-password",
            "RESTIC_CACHE_DIR": str(home / "cache"),
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        },
    )
    return Client("restic", [harness.binary("restic")], env, home, server)


def mixed_files() -> dict[str, int]:
    """About 50 MiB: one large file, a few medium ones, hundreds of small ones, empties."""
    files = {"disk image.img": 24 * MiB}
    files |= {f"photos/IMG_{i:04d}+é.jpg": 4 * MiB + i * 4099 for i in range(4)}
    files |= {f"music/track {i}.flac": MiB + i * 7 for i in range(3)}
    for i in range(400):
        files[f"src/pkg{i % 9}/mod {i:03d}.py"] = (i * 6151) % 16_000
    return files


def summary(out: str) -> dict[str, Any]:
    """The summary message of `restic backup --json`."""
    for line in reversed(out.splitlines()):
        if line.startswith("{") and '"message_type":"summary"' in line:
            message: dict[str, Any] = json.loads(line)
            return message
    raise AssertionError(f"no summary in restic's output:\n{out[-4000:]}")


def test_restic_backup_check_restore_prune(restic: Client, home: Path) -> None:
    data = home / "data"
    digests = harness.make_tree(data, mixed_files(), "restic")
    total = sum(mixed_files().values())
    restic.run("init")

    first = summary(restic.run("backup", "--json", str(data)).stdout)
    assert first["files_new"] == len(digests), first
    assert first["data_added"] >= total * 0.95, first

    # The second backup: the large file again under another name, and one new small
    # file. Deduplication means it adds little: the new file and the metadata.
    shutil.copyfile(data / "disk image.img", data / "disk image copy.img")
    digests["disk image copy.img"] = digests["disk image.img"]
    digests["notes.txt"] = harness.write_file(data / "notes.txt", "restic-new", 100_000)
    second = summary(restic.run("backup", "--json", str(data)).stdout)
    assert second["files_new"] == 2, second
    assert second["data_added"] < 2 * MiB, second

    restic.run("check", "--read-data")
    target = home / "restored"
    restic.run("restore", "latest", "--target", str(target))
    restored = target / data.relative_to(data.anchor)
    assert harness.tree_digests(restored) == digests

    restic.run("forget", "--keep-last", "1", "--prune")
    snapshots = json.loads(restic.run("snapshots", "--json").stdout)
    assert len(snapshots) == 1, snapshots
    restic.run("check", "--read-data")
