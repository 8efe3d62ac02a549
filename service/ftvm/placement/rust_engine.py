"""The Rust core's engine (ImportError when the extension was not built)."""

from ftvm._placement import Engine as RustEngine

__all__ = ["RustEngine"]
