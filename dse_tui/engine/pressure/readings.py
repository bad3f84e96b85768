"""What the machine says about its pressure, read cheaply (the TUI polls every 1-2 s).

Every reading that cannot be had is None, meaning unavailable, never 0: a Pi without a
readable throttle file is not "not throttled", and a VM without thermal zones is not cold.
Paths are joined under `root` so that tests can lay out a fake /proc and /sys.
"""

from __future__ import annotations

import glob
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

# Raspberry Pi firmware throttle bits (vcgencmd get_throttled): now, and since boot.
THROTTLE_NOW = {0: "under-voltage", 1: "frequency capped", 2: "throttled", 3: "soft temperature limit"}
THROTTLE_SINCE_BOOT = {16: "under-voltage", 17: "frequency capped", 18: "throttled", 19: "soft temperature limit"}
# The Raspberry Pi kernel's firmware driver adds `get_throttled` (hex, no prefix) to the firmware
# device; where that device sits depends on the board's device tree, hence the glob after the
# usual places (searched once per Sensors: the hardware does not move).
THROTTLE_PATHS = (
    "sys/devices/platform/soc/soc:firmware/get_throttled",
    "sys/devices/platform/soc:firmware/get_throttled",
)
THROTTLE_GLOBS = ("sys/devices/platform/*/*:firmware/get_throttled", "sys/devices/platform/*:firmware/get_throttled")
# The same driver registers the `rpi_volt` hwmon (Documentation/hwmon/raspberrypi-hwmon.rst):
# its in0_lcrit_alarm is the under-voltage-now bit alone, readable where get_throttled is not.
RPI_VOLT_HWMON = "rpi_volt"
MODEL_PATHS = ("proc/device-tree/model", "sys/firmware/devicetree/base/model")
PLAUSIBLE_CELSIUS = (-40.0, 150.0)  # outside it a zone is switched off or broken, not hot


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
    under_voltage_alarm: bool | None = None  # rpi_volt hwmon; bit 0 of `throttled` where that is read
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

    @property
    def under_voltage_now(self) -> bool | None:
        return bool(self.throttled & 1) if self.throttled is not None else self.under_voltage_alarm

    def throttle_reasons(self) -> list[str]:
        if self.throttled is None:
            return ["under-voltage now"] if self.under_voltage_alarm else []
        now = [w for bit, w in THROTTLE_NOW.items() if self.throttled >> bit & 1]
        before = [w for bit, w in THROTTLE_SINCE_BOOT.items() if self.throttled >> bit & 1]
        return [f"{w} now" for w in now] + [f"{w} since boot" for w in before]

    def unavailable(self) -> list[str]:
        always = ("at", "platform", "local_hour", "local_minute")
        # the hwmon alarm is only a fallback for bit 0 of `throttled`: not missed when that is read
        known = ("under_voltage_alarm",) if self.throttled is not None else ()
        return [f.name for f in fields(self) if f.name not in always + known and getattr(self, f.name) is None]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["throttled_now"] = self.throttled_now
        data["throttled_since_boot"] = self.throttled_since_boot
        data["under_voltage_now"] = self.under_voltage_now
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
        """`cpu_interval`: None measures CPU use since the previous psutil.cpu_percent call in
        this process, never blocking (the TUI's polls); the first call measures since psutil was
        imported, and a first 0.0 (too short to mean anything) is unavailable. A one-shot command
        blocks that long instead, or it would measure itself starting up."""
        self.root = root
        self.cpu_interval = cpu_interval
        self._psutil = psutil_module
        self.clock = clock
        self.localtime = localtime
        self._primed = False
        self._throttle_found: str | None = None  # the glob's find, searched once
        self._throttle_searched = False
        self._rpi_volt: str | None = None
        self._rpi_volt_searched = False

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
            throttled=(throttled := self._throttled()),
            under_voltage_alarm=self._under_voltage_alarm() if throttled is None else None,
            model=model,
            platform="raspberry_pi" if model and "raspberry pi" in model.lower() else sys.platform,
            battery_percent=battery_percent,
            on_battery=on_battery,
            local_hour=now.tm_hour,
            local_minute=now.tm_min,
        )

    def _cpu(self) -> float | None:
        try:
            value = _finite(self.psutil.cpu_percent(interval=self.cpu_interval))
        except Exception:  # noqa: BLE001 - a sensor that fails is unavailable
            return None
        if value is None:
            return None
        if self.cpu_interval is None and not self._primed:  # the first call only starts the measurement
            self._primed = True
            return None if value == 0.0 else value
        return value

    def _load(self) -> float | None:
        text = self._text("proc/loadavg")
        try:
            cores = self.psutil.cpu_count()
        except Exception:  # noqa: BLE001
            cores = None
        cores = cores or os.cpu_count() or 1
        try:
            return _finite(text.split()[0], cores) if text else None
        except IndexError:
            return None

    def _memory(self) -> float | None:
        try:
            return _finite(self.psutil.virtual_memory().percent)
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
                number = _finite(value) if key == "avg10" else None
                if number is not None and 0 <= number <= 100:
                    out[parts[0]] = number
        return out

    def _temperature(self) -> float | None:
        best = None
        for path in glob.glob(self._path("sys/class/thermal/thermal_zone*/temp")):
            try:
                with open(path, "rb") as f:
                    value = int(f.read(64).strip()) / 1000.0
            except (OSError, ValueError):
                continue
            if PLAUSIBLE_CELSIUS[0] <= value <= PLAUSIBLE_CELSIUS[1]:
                best = value if best is None else max(best, value)
        if best is not None:
            return best
        reader = getattr(self.psutil, "sensors_temperatures", None)
        if reader is None:
            return None
        try:
            entries = [_finite(t.current) for group in (reader() or {}).values() for t in group]
        except Exception:  # noqa: BLE001
            return None
        plausible = [c for c in entries if c is not None and PLAUSIBLE_CELSIUS[0] <= c <= PLAUSIBLE_CELSIUS[1]]
        return max(plausible) if plausible else None

    def _throttled(self) -> int | None:
        found = self._find_throttle()
        for relative in THROTTLE_PATHS + ((found,) if found else ()):
            text = self._text(relative)
            if text is None:
                continue
            # the firmware driver prints hex without a prefix ("50005"); vcgencmd's "throttled=0x50005" too
            text = text.split("=")[-1].strip()
            try:
                value = int(text, 16)
            except ValueError:
                return None
            return value if value >= 0 else None
        return None

    def _find_throttle(self) -> str | None:
        if not self._throttle_searched:
            self._throttle_searched = True
            found = sorted(p for pattern in THROTTLE_GLOBS for p in glob.glob(self._path(pattern)))
            self._throttle_found = os.path.relpath(found[0], self.root) if found else None
        return self._throttle_found

    def _under_voltage_alarm(self) -> bool | None:
        if not self._rpi_volt_searched:
            self._rpi_volt_searched = True
            for name in sorted(glob.glob(self._path("sys/class/hwmon/hwmon*/name"))):
                if self._text(os.path.relpath(name, self.root)) == RPI_VOLT_HWMON:
                    self._rpi_volt = os.path.relpath(os.path.dirname(name), self.root)
                    break
        if self._rpi_volt is None:
            return None
        return {"0": False, "1": True}.get(self._text(os.path.join(self._rpi_volt, "in0_lcrit_alarm")) or "")

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
        percent = _finite(getattr(battery, "percent", None))
        return percent, None if plugged is None or percent is None else not plugged


def _finite(value: object, divisor: float = 1.0) -> float | None:
    """A finite number, or None (unavailable) for anything else: nan, inf, text, None."""
    try:
        number = float(value) / divisor  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
