"""Debian 12's aws CLI v2: `s3 ls`, `s3api list-objects(-v2)` with delimiters and
pagination, `s3 sync` up and down, `s3 rm --recursive`."""

from __future__ import annotations

from pathlib import Path

from tests.compat import harness
from tests.compat.harness import Client, moved, s3api

LIST_TREE = {
    "a/1": 100,
    "a/2": 200,
    "a/3": 300,
    "b/x/1": 400,
    "b/y/2": 500,
    "c d/é+1": 600,
    "c d/é+2": 700,
    "top 1": 800,
    "top+2": 900,
    "ünï": 1000,
}


def test_aws_ls_and_list_objects(aws: Client, home: Path, bucket_name: str) -> None:
    url = f"s3://{bucket_name}"
    aws.run("s3", "mb", url)
    harness.make_tree(home / "tree", LIST_TREE, "aws-list")
    up = aws.run("s3", "cp", "--recursive", "--no-progress", str(home / "tree"), url)
    assert moved("upload", up.stdout, bucket_name) == sorted(LIST_TREE), aws.fails(up)

    buckets = aws.run("s3", "ls")
    assert bucket_name in buckets.stdout.split(), aws.fails(buckets)

    top = aws.run("s3", "ls", f"{url}/")
    prefixes = [line.split("PRE ", 1)[1] for line in top.stdout.splitlines() if "PRE " in line]
    assert prefixes == ["a/", "b/", "c d/"], aws.fails(top)
    files = [line.split(None, 3)[3] for line in top.stdout.splitlines() if "PRE " not in line]
    assert files == ["top 1", "top+2", "ünï"], aws.fails(top)

    recursive = aws.run("s3", "ls", "--recursive", url)
    listed = {}
    for line in recursive.stdout.splitlines():
        _, _, size, key = line.split(None, 3)
        listed[key] = int(size)
    assert listed == LIST_TREE, aws.fails(recursive)

    inside = aws.run("s3", "ls", f"{url}/c d/")
    assert [line.split(None, 3)[3] for line in inside.stdout.splitlines()] == ["é+1", "é+2"]

    for command in ("list-objects", "list-objects-v2"):
        # --page-size 2: the CLI follows NextMarker / NextContinuationToken page by page.
        whole = s3api(aws, command, "--bucket", bucket_name, "--delimiter", "/", "--page-size", "2")
        assert [c["Key"] for c in whole["Contents"]] == ["top 1", "top+2", "ünï"], whole
        assert [p["Prefix"] for p in whole["CommonPrefixes"]] == ["a/", "b/", "c d/"], whole

        everything = s3api(aws, command, "--bucket", bucket_name, "--page-size", "3")
        assert {c["Key"]: c["Size"] for c in everything["Contents"]} == LIST_TREE, everything

        first = s3api(aws, command, "--bucket", bucket_name, "--max-items", "4", "--page-size", "3")
        assert [c["Key"] for c in first["Contents"]] == sorted(LIST_TREE)[:4], first
        rest = s3api(
            aws, command, "--bucket", bucket_name, "--starting-token", first["NextToken"],
            "--page-size", "3",
        )  # fmt: skip
        assert [c["Key"] for c in rest["Contents"]] == sorted(LIST_TREE)[4:], rest

        nested = s3api(aws, command, "--bucket", bucket_name, "--prefix", "b/", "--delimiter", "/")
        assert [p["Prefix"] for p in nested["CommonPrefixes"]] == ["b/x/", "b/y/"], nested
        assert "Contents" not in nested, nested
        special = s3api(aws, command, "--bucket", bucket_name, "--prefix", "c d/é+")
        assert [c["Key"] for c in special["Contents"]] == ["c d/é+1", "c d/é+2"], special


def sync_tree() -> dict[str, int]:
    """200 files whose names have spaces, '+' and non-ASCII letters, in nested folders."""
    names = {}
    for i in range(200):
        folder = ["", "docs/", "my photos/", "a+b/c d/", "ünïcødé/ñ/"][i % 5]
        stem = ["file", "with space", "plus+sign", "été", "x"][(i // 5) % 5]
        names[f"{folder}{stem} {i:03d}.dat"] = 1 + (i * 997) % 20_000
    return names


def test_aws_sync_up_change_down_rm(aws: Client, home: Path, bucket_name: str) -> None:
    url = f"s3://{bucket_name}"
    aws.run("s3", "mb", url)
    files = sync_tree()
    src, dst = home / "src", home / "dst"
    digests = harness.make_tree(src, files, "aws-sync")

    up = aws.run("s3", "sync", "--no-progress", str(src), url)
    assert moved("upload", up.stdout, bucket_name) == sorted(files), aws.fails(up)

    again = aws.run("s3", "sync", "--no-progress", str(src), url)
    assert moved("upload", again.stdout, bucket_name) == [], aws.fails(again)

    changed = next(name for name in files if name.startswith("a+b/c d/plus+sign"))
    digests[changed] = harness.write_file(src / changed, "aws-sync-changed", files[changed] + 1)
    again = aws.run("s3", "sync", "--no-progress", str(src), url)
    assert moved("upload", again.stdout, bucket_name) == [changed], aws.fails(again)

    down = aws.run("s3", "sync", "--no-progress", url, str(dst))
    assert moved("download", down.stdout, bucket_name) == sorted(files), aws.fails(down)
    assert harness.tree_digests(dst) == digests

    rm = aws.run("s3", "rm", "--recursive", url)
    assert moved("delete", rm.stdout, bucket_name) == sorted(files), aws.fails(rm)
    left = aws.run("s3", "ls", "--recursive", url, ok=False)
    assert left.stdout == "", aws.fails(left)
    aws.run("s3", "rb", url)
    buckets = aws.run("s3", "ls")
    assert bucket_name not in buckets.stdout.split(), aws.fails(buckets)
