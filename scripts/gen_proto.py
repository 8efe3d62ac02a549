"""Generates the Python gRPC code of proto/ into service/ftvm/_proto (committed; tests check it is current).

Run after editing proto/: `python3 scripts/gen_proto.py`. The generated modules import each other as
`zstack.ft.v1...`; they are rewritten to live under `ftvm._proto` so the wheel carries one top-level package.
"""

from __future__ import annotations

import pathlib
import re
import sys
import tempfile

from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "service" / "ftvm" / "_proto"
PROTOS = sorted((ROOT / "proto").rglob("*.proto"))


def generate(out: pathlib.Path) -> None:
    import grpc_tools

    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{ROOT / 'proto'}",
        f"-I{ROOT / 'third_party' / 'googleapis'}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *map(str, PROTOS),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for path in out.rglob("*.py*"):
        text = re.sub(r"\bfrom zstack\.ft\.v1 import", "from ftvm._proto.zstack.ft.v1 import", path.read_text())
        path.write_text(text)
    for package in [out, *(p for p in out.rglob("*") if p.is_dir())]:
        (package / "__init__.py").touch()


def main() -> None:
    if "--check" in sys.argv:
        with tempfile.TemporaryDirectory() as tmp:
            generate(pathlib.Path(tmp))
            fresh = {p.relative_to(tmp): p.read_text() for p in pathlib.Path(tmp).rglob("*") if p.is_file()}
        committed = {
            p.relative_to(OUT): p.read_text() for p in OUT.rglob("*") if p.is_file() and "__pycache__" not in p.parts
        }
        if fresh != committed:
            raise SystemExit("service/ftvm/_proto is stale: run python3 scripts/gen_proto.py")
        return
    OUT.mkdir(parents=True, exist_ok=True)
    generate(OUT)


if __name__ == "__main__":
    main()
