"""The layers import one way (README, Architecture): the standalone REST gateway needs only the proto and the API's
error mapping, and the domain works on domain types, never on gRPC or proto messages. Each check imports in a fresh
interpreter, so modules other tests loaded do not count."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = """
import importlib, pkgutil, sys
package = importlib.import_module({package!r})
for module in pkgutil.iter_modules(package.__path__):
    importlib.import_module(f"{{package.__name__}}.{{module.name}}")
loaded = sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in {forbidden!r}))
print(" ".join(loaded))
"""


def imported(package: str, forbidden: tuple[str, ...]) -> list[str]:
    """The forbidden modules that importing every module of `package` pulls in."""
    out = subprocess.run(
        [sys.executable, "-c", CHECK.format(package=package, forbidden=forbidden)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


@pytest.mark.parametrize(
    "package, forbidden",
    [
        ("ftvm.gateway", ("ftvm.domain", "ftvm.store", "ftvm.placement")),
        ("ftvm.domain", ("ftvm.api", "ftvm.gateway", "ftvm._proto", "grpc", "google.protobuf")),
    ],
)
def test_layer_does_not_import(package, forbidden):
    assert imported(package, forbidden) == []


def test_the_check_sees_an_import():
    """The check itself finds what a package does import."""
    assert "ftvm.api.errors" in imported("ftvm.gateway", ("ftvm.api",))
