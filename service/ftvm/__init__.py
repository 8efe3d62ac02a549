"""Fault-tolerant VM placement service (ZStack CreateFaultToleranceVmInstance)."""

__version__ = "0.1.0"
