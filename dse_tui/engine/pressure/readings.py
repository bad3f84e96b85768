"""What the machine says about its pressure, read cheaply (the TUI polls every 1-2 s).

Every reading that cannot be had is None, meaning unavailable, never 0: a Pi without a
readable throttle file is not "not throttled", and a VM without thermal zones is not cold.
Paths are joined under `root` so that tests can lay out a fake /proc and /sys.
"""

from __future__ import annotations

import glob
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

# Raspberry Pi firmware throttle bits (vcgencmd get_throttled): now, and since boot.
THROTTLE_NOW = {0: "under-voltage", 1: "frequency capped", 2: "throttled", 3: "soft temperature limit"}
THROTTLE_SINCE_BOOT = {16: "under-voltage", 17: "frequency capped", 18: "throttled", 19: "soft temperature limit"}
THROTTLE_PATHS = (
    "sys/devices/platform/soc/soc:firmware/get_throttled",
    "sys/devices/platform/soc:firmware/get_throttled",
)
MODEL_PATHS = ("proc/device-tree/model", "sys/firmware/devicetree/base/model")


@dataclass(frozen=True)
class Readings:
    at: float
    cpu_percent: float | None = None
    load_per_core: float | None = None
    memory_percent: float | None = None
    psi_cpu_some10: float | None = None
    psi_memory_some10: float | None = None
    psi_memory_full10: float | None = None
    psi_io_some10: float | None = None
    temperature_c: float | None = None
    throttled: int | None = None  # the firmware's raw bits
    model: str | None = None
    platform: str = "linux"
    battery_percent: float | None = None
    on_battery: bool | None = None
    local_hour: int = 0
    local_minute: int = 0

    @property
    def throttled_now(self) -> bool | None:
        return None if self.throttled is None else bool(self.throttled & 0xF)

    @property
    def throttled_since_boot(self) -> bool | None:
        return None if self.throttled is None else bool(self.throttled & 0xF0000)

    def throttle_reasons(self) -> list[str]:
        if self.throttled is None:
            return []
        now = [w for bit, w in THROTTLE_NOW.items() if self.throttled >> bit & 1]
        before = [w for bit, w in THROTTLE_SINCE_BOOT.items() if self.throttled >> bit & 1]
        return [f"{w} now" for w in now] + [f"{w} since boot" for w in before]

    def unavailable(self) -> list[str]:
        optional = [f.name for f in fields(self) if f.name not in ("at", "platform", "local_hour", "local_minute")]
        return [name for name in optional if getattr(self, name) is None]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["throttled_now"] = self.throttled_now
        data["throttled_since_boot"] = self.throttled_since_boot
        data["throttle_reasons"] = self.throttle_reasons()
        data["unavailable"] = self.unavailable()
        return data


class Sensors:
    def __init__(
        self,
        root: str = "/",
        psutil_module: Any = None,
        clock: Callable[[], float] = time.time,
        localtime: Callable[[], time.struct_time] = time.localtime,
        cpu_interval: float | None = None,
    ) -> None:
        """`cpu_interval`: None measures CPU use since the previous read (never blocks; the
        TUI's polls); a one-shot command blocks that long instead, or it would measure itself
        starting up."""
        self.root = root
        self.cpu_interval = cpu_interval
        self._psutil = psutil_module
        self.clock = clock
        self.localtime = localtime
        self._primed = False

    @property
    def psutil(self) -> Any:
        if self._psutil is None:
            import psutil

            self._psutil = psutil
        return self._psutil

    def _path(self, relative: str) -> str:
        return os.path.join(self.root, relative)

    def _text(self, relative: str) -> str | None:
        try:
            with open(self._path(relative), "rb") as f:
                return f.read(4096).decode("utf-8", "replace").replace("\x00", "").strip()
        except OSError:
            return None

    def read(self) -> Readings:
        now = self.localtime()
        psi = {kind: self._psi(kind) for kind in ("cpu", "memory", "io")}
        model = next((text for text in map(self._text, MODEL_PATHS) if text), None)
        battery_percent, on_battery = self._battery()
        return Readings(
            at=self.clock(),
            cpu_percent=self._cpu(),
            load_per_core=self._load(),
            memory_percent=self._memory(),
            psi_cpu_some10=psi["cpu"].get("some"),
            psi_memory_some10=psi["memory"].get("some"),
            psi_memory_full10=psi["memory"].get("full"),
            psi_io_some10=psi["io"].get("some"),
            temperature_c=self._temperature(),
            throttled=self._throttled(),
            model=model,
            platform="raspberry_pi" if model and "raspberry pi" in model.lower() else sys.platform,
            battery_percent=battery_percent,
            on_battery=on_battery,
            local_hour=now.tm_hour,
            local_minute=now.tm_min,
        )

    def _cpu(self) -> float | None:
        try:
            value = float(self.psutil.cpu_percent(interval=self.cpu_interval))
        except Exception:  # noqa: BLE001 - a sensor that fails is unavailable
            return None
        if self.cpu_interval is None and not self._primed:  # the first call only starts the measurement
            self._primed = True
            return None if value == 0.0 else value
        return value

    def _load(self) -> float | None:
        text = self._text("proc/loadavg")
        try:
            cores = self.psutil.cpu_count() or os.cpu_count() or 1
            return float(text.split()[0]) / cores if text else None
        except (ValueError, IndexError, TypeError):
            return None

    def _memory(self) -> float | None:
        try:
            return float(self.psutil.virtual_memory().percent)
        except Exception:  # noqa: BLE001
            return None

    def _psi(self, kind: str) -> dict[str, float]:
        text = self._text(f"proc/pressure/{kind}")
        out: dict[str, float] = {}
        for line in (text or "").splitlines():
            parts = line.split()
            if not parts or parts[0] not in ("some", "full"):
                continue
            for item in parts[1:]:
                key, _, value = item.partition("=")
                if key == "avg10":
                    try:
                        out[parts[0]] = float(value)
                    except ValueError:
                        pass
        return out

    def _temperature(self) -> float | None:
        best = None
        for path in glob.glob(self._path("sys/class/thermal/thermal_zone*/temp")):
            try:
                with open(path, "rb") as f:
                    value = int(f.read(64).strip()) / 1000.0
            except (OSError, ValueError):
                continue
            best = value if best is None else max(best, value)
        if best is not None:
            return best
        reader = getattr(self.psutil, "sensors_temperatures", None)
        if reader is None:
            return None
        try:
            entries = [t.current for group in (reader() or {}).values() for t in group if t.current is not None]
        except Exception:  # noqa: BLE001
            return None
        return max(entries) if entries else None

    def _throttled(self) -> int | None:
        for relative in THROTTLE_PATHS:
            text = self._text(relative)
            if text is None:
                continue
            # the firmware driver prints hex without a prefix ("50005"); vcgencmd's "throttled=0x50005" too
            text = text.split("=")[-1].strip()
            try:
                return int(text, 16)
            except ValueError:
                return None
        return None

    def _battery(self) -> tuple[float | None, bool | None]:
        reader = getattr(self.psutil, "sensors_battery", None)
        if reader is None:
            return None, None
        try:
            battery = reader()
        except Exception:  # noqa: BLE001
            return None, None
        if battery is None:
            return None, None
        plugged = getattr(battery, "power_plugged", None)
        return float(battery.percent), None if plugged is None else not plugged
