"""s3cmd: ls (buckets, a level, recursive), du, del --recursive."""

from __future__ import annotations

from pathlib import Path

from tests.compat import harness
from tests.compat.harness import Client


def test_s3cmd_ls_du(s3cmd: Client, home: Path, bucket_name: str) -> None:
    url = f"s3://{bucket_name}"
    s3cmd.run("mb", url)
    sizes = {"a/one": 1000, "a/two": 2000, "b/deep/three": 3000, "top+plus é": 4000}
    for i, (key, size) in enumerate(sizes.items()):
        path = home / f"f{i}"
        harness.write_file(path, f"s3cmd-ls:{key}", size)
        s3cmd.run("put", str(path), f"{url}/{key}")

    listed = s3cmd.run("ls", f"{url}/")
    lines = listed.stdout.splitlines()
    assert any(line.strip().endswith(f"{url}/a/") and "DIR" in line for line in lines), s3cmd.fails(
        listed
    )
    assert any(line.endswith(f"{url}/top+plus é") for line in lines), s3cmd.fails(listed)
    assert len(lines) == 3, s3cmd.fails(listed)

    recursive = s3cmd.run("ls", "--recursive", url)
    keys = [line.split(f"{url}/", 1)[1] for line in recursive.stdout.splitlines()]
    assert keys == sorted(sizes), s3cmd.fails(recursive)

    du = s3cmd.run("du", url)
    assert du.stdout.split()[:2] == [str(sum(sizes.values())), "4"], s3cmd.fails(du)

    listed = s3cmd.run("ls")
    assert url in listed.stdout, s3cmd.fails(listed)
    s3cmd.run("del", "--recursive", "--force", url)
    s3cmd.run("rb", url)
