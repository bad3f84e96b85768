"""Running untrusted Python: the strongest sandbox this machine supports, chosen once."""

from __future__ import annotations

import functools
import os

from .base import Sandbox, sweep_stale_workdirs
from .model import Limits, SandboxResult, SandboxUnavailable

__all__ = ["Limits", "Sandbox", "SandboxResult", "SandboxUnavailable", "available_sandboxes", "select_sandbox"]

BACKENDS = ("bwrap", "native", "none")  # strongest first


@functools.cache
def _probe(name: str) -> Sandbox | str:
    """The backend ready to use, or why it is not (probed once per process)."""
    try:
        sandbox: Sandbox
        if name == "bwrap":
            from .bwrap import BwrapSandbox

            sandbox = BwrapSandbox()
        elif name == "native":
            from .native import NativeSandbox

            sandbox = NativeSandbox()
        else:
            from .unconfined import UnconfinedSandbox

            sandbox = UnconfinedSandbox()
        check = sandbox.run("print('ok')", limits=Limits(timeout_s=10))
    except (ImportError, OSError, RuntimeError) as exc:  # RuntimeError: pyseccomp without libseccomp
        return f"{name} sandbox unavailable: {exc}"
    if check.stdout != b"ok\n":
        detail = check.stderr.decode(errors="replace").strip()[-300:]
        return f"{name} sandbox unavailable: a trial run ended with {check.ended}: {detail}"
    return sandbox


@functools.cache
def _sweep_once() -> None:
    sweep_stale_workdirs()  # what DSE processes killed outright left in /tmp


def available_sandboxes() -> list[Sandbox]:
    """Every backend that works here, strongest first (the last is always 'none')."""
    return [s for s in map(_probe, BACKENDS) if isinstance(s, Sandbox)]


def select_sandbox(preference: str = "auto") -> Sandbox:
    """preference is "auto" (strongest available), "bwrap", "native" or "none"; the DSE_SANDBOX
    environment variable overrides it. A backend named explicitly must work or this raises."""
    preference = os.environ.get("DSE_SANDBOX") or preference
    _sweep_once()
    if preference == "auto":
        return available_sandboxes()[0]
    if preference not in BACKENDS:
        raise ValueError(f"unknown sandbox {preference!r}: choose auto, {', '.join(BACKENDS)}")
    found = _probe(preference)
    if isinstance(found, str):
        raise SandboxUnavailable(found)
    return found
