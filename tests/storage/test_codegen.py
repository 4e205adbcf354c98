"""The committed generated code matches schema/ (run schema/generate.sh if not)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2

from hamster.storage.pb import records_pb2

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "hamster" / "storage" / "pb"
GENERATED = ("records_pb2.py", "records_pb2.pyi")


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    subprocess.run(
        ["bash", str(ROOT / "schema" / "generate.sh"), str(tmp_path)],
        check=True,
        capture_output=True,
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
    )
    for name in GENERATED:
        fresh = (tmp_path / name).read_text()
        committed = (COMMITTED / name).read_text()
        assert fresh == committed, (
            f"hamster/storage/pb/{name} is stale: run schema/generate.sh and commit the result"
        )


def test_descriptor_name_is_canonical() -> None:
    proto = descriptor_pb2.FileDescriptorProto()
    records_pb2.DESCRIPTOR.CopyToProto(proto)
    assert proto.name == "hamster/v1/records.proto"
    assert proto.package == "hamster.v1"
