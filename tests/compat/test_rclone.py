"""rclone (Debian 12: 1.60) against the real daemon: an S3 remote of provider Other,
configured only from RCLONE_CONFIG_<NAME>_* environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat import harness
from tests.compat.harness import ACCESS_KEY, REGION, SECRET_KEY, Client, MiB, clean_env
from tests.daemon import Daemon


@pytest.fixture
def rclone(server: Daemon, home: Path) -> Client:
    env = clean_env(
        home,
        {
            "RCLONE_CONFIG": str(home / "rclone.conf"),  # absent: the environment is the config
            "RCLONE_CONFIG_HAMSTER_TYPE": "s3",
            "RCLONE_CONFIG_HAMSTER_PROVIDER": "Other",
            "RCLONE_CONFIG_HAMSTER_ACCESS_KEY_ID": ACCESS_KEY,
            "RCLONE_CONFIG_HAMSTER_SECRET_ACCESS_KEY": SECRET_KEY,
            "RCLONE_CONFIG_HAMSTER_ENDPOINT": server.endpoint,
            "RCLONE_CONFIG_HAMSTER_REGION": REGION,
        },
    )
    return Client("rclone", [harness.binary("rclone")], env, home, server)


def tree() -> dict[str, int]:
    """A 50 MiB file and 300 small ones, names with spaces, '+' and non-ASCII letters."""
    files = {"media/big video.bin": 50 * MiB}
    for i in range(300):
        folder = ["", "docs/", "docs/deep/ér/", "a+b c/"][i % 4]
        files[f"{folder}small {i:03d}+é.txt"] = 10 + (i * 7919) % 30_000
    return files


def test_rclone_copy_check_delete_purge(rclone: Client, home: Path, bucket_name: str) -> None:
    remote = f"hamster:{bucket_name}"
    rclone.run("mkdir", remote)
    files = tree()
    src, back = home / "src", home / "back"
    digests = harness.make_tree(src, files, "rclone")

    rclone.run("copy", str(src), remote, "--transfers", "4")
    # rclone check compares sizes and MD5s with the objects' ETags.
    check = rclone.run("check", str(src), remote)
    assert f"{len(files)} matching files" in check.stderr, rclone.fails(check)
    check = rclone.run("check", "--download", str(src), remote)
    assert f"{len(files)} matching files" in check.stderr, rclone.fails(check)

    # Another copy moves nothing: everything is there already.
    again = rclone.run("copy", "-v", str(src), remote)
    assert "Transferred:" in again.stderr and "Copied" not in again.stderr, rclone.fails(again)

    rclone.run("copy", remote, str(back), "--transfers", "4")
    assert harness.tree_digests(back) == digests

    listed = rclone.run("lsf", "-R", "--files-only", remote)
    assert sorted(listed.stdout.splitlines()) == sorted(files), rclone.fails(listed)

    rclone.run("delete", f"{remote}/docs")
    listed = rclone.run("lsf", "-R", "--files-only", remote)
    kept = sorted(f for f in files if not f.startswith("docs/"))
    assert sorted(listed.stdout.splitlines()) == kept, rclone.fails(listed)

    rclone.run("purge", remote)
    buckets = rclone.run("lsd", "hamster:")
    assert bucket_name not in buckets.stdout, rclone.fails(buckets)
