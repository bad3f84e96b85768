"""Pressure from faked machines: /proc, /sys, the device tree and psutil laid out in a tmp dir."""

import time
from types import SimpleNamespace

import pytest

from dse_tui.engine.pressure import (
    PressureConfig,
    PressureGauge,
    PressureLevel,
    Sensors,
    allowed_tiers,
    negotiate_quality,
)

NOON = time.struct_time((2026, 12, 2, 12, 0, 0, 2, 336, 0))
MIDNIGHT = time.struct_time((2026, 12, 2, 23, 30, 0, 2, 336, 0))
PSI = "some avg10={some:.2f} avg60=0.00 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1\n"


class FakePsutil:
    def __init__(self, cpu=5.0, memory=30.0, battery=None, temps=None, has_sensors=True):
        self.cpu, self.memory, self.battery = cpu, memory, battery
        self.calls = 0
        if has_sensors:
            self.sensors_battery = lambda: battery
            self.sensors_temperatures = lambda: temps or {}

    def cpu_percent(self, interval=None):
        self.calls += 1
        return self.cpu

    def cpu_count(self):
        return 4

    def virtual_memory(self):
        return SimpleNamespace(percent=self.memory)


def machine(tmp_path, *, model=None, temp_c=None, throttled=None, psi_cpu=None, load=0.2):
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True, exist_ok=True)
    (root / "proc" / "loadavg").write_text(f"{load} 0.1 0.1 1/100 1\n")
    if model is not None:
        (root / "proc" / "device-tree").mkdir(exist_ok=True)
        (root / "proc" / "device-tree" / "model").write_bytes(model.encode() + b"\x00")
    if temp_c is not None:
        zone = root / "sys" / "class" / "thermal" / "thermal_zone0"
        zone.mkdir(parents=True, exist_ok=True)
        (zone / "temp").write_text(f"{int(temp_c * 1000)}\n")
    if throttled is not None:
        fw = root / "sys" / "devices" / "platform" / "soc" / "soc:firmware"
        fw.mkdir(parents=True, exist_ok=True)
        (fw / "get_throttled").write_text(f"{throttled:x}\n")
    if psi_cpu is not None:
        (root / "proc" / "pressure").mkdir(exist_ok=True)
        for kind in ("cpu", "memory", "io"):
            (root / "proc" / "pressure" / kind).write_text(PSI.format(some=psi_cpu if kind == "cpu" else 0.0))
    return str(root)


def gauge(root, psutil=None, clock=None, localtime=NOON):
    sensors = Sensors(root, psutil or FakePsutil(), localtime=lambda: localtime, cpu_interval=0.0)
    return PressureGauge(PressureConfig.load(), sensors, clock=clock or time.monotonic)


PI = "Raspberry Pi 5 Model B Rev 1.0"


def test_an_idle_cool_pi_is_not_high(tmp_path):
    a = gauge(machine(tmp_path, model=PI, temp_c=45, throttled=0, psi_cpu=0.5)).assess()
    assert a.readings.platform == "raspberry_pi" and a.readings.model == PI
    assert a.level == PressureLevel.MEDIUM
    assert "ollama" in a.allowed_tiers and "anthropic" in a.allowed_tiers  # a Pi keeps its LAN and cloud


def test_throttling_now_is_high_but_throttled_since_boot_only_is_not(tmp_path):
    now = gauge(machine(tmp_path / "a", model=PI, temp_c=60, throttled=0x4)).assess()
    assert now.level == PressureLevel.HIGH and any("throttled now" in r for r in now.reasons)
    before = gauge(machine(tmp_path / "b", model=PI, temp_c=50, throttled=0x40000)).assess()
    assert before.level != PressureLevel.HIGH
    assert before.readings.throttled_since_boot and not before.readings.throttled_now
    assert any("since boot" in r for r in before.reasons)


def test_a_stalled_or_hot_machine_is_high(tmp_path):
    stalled = gauge(machine(tmp_path / "a", model=PI, temp_c=50, psi_cpu=60)).assess()
    assert stalled.level == PressureLevel.HIGH and any("CPU stall 60" in r for r in stalled.reasons)
    hot = gauge(machine(tmp_path / "b", model=PI, temp_c=85)).assess()
    assert hot.level == PressureLevel.HIGH and any("temperature 85" in r for r in hot.reasons)


def test_an_arm_board_that_is_not_a_pi_is_not_called_one(tmp_path):
    a = gauge(machine(tmp_path, model="Pine64 RockPro64 v2.1")).assess()
    assert a.readings.platform != "raspberry_pi" and a.readings.model.startswith("Pine64")


def test_at_high_only_reuse_and_the_embedded_tier_run(tmp_path):
    a = gauge(machine(tmp_path, temp_c=90)).assess()
    tiers = [("fast", "embedded", 2000.0), ("balanced", "ollama", 5000.0), ("powerful", "anthropic", 3000.0)]
    allowed, refused = allowed_tiers(a, tiers)
    assert set(a.allowed_tiers) == {"reuse", "embedded"}
    assert allowed == ["fast"]
    assert any(r.startswith("balanced (ollama): not allowed under high") for r in refused)
    assert any(r.startswith("powerful (anthropic)") for r in refused)


def test_the_latency_ceiling_refuses_a_slow_tier_and_keeps_one_never_measured(tmp_path):
    a = gauge(machine(tmp_path, temp_c=90)).assess()  # high: 15 s ceiling
    allowed, refused = allowed_tiers(a, [("fast", "embedded", 40_000.0), ("fresh", "embedded", None)])
    assert allowed == ["fresh"]
    assert refused and "predicted 40.0 s over the 15 s ceiling" in refused[0]


def test_negotiation_gives_each_of_the_three_outcomes():
    config = PressureConfig.load()
    ok, reason, suggestion = negotiate_quality(0.6, "high", config)
    assert ok and "can be met under high" in reason and suggestion is None
    ok, reason, suggestion = negotiate_quality(0.7, "high", config)
    assert not ok and "not achievable under high" in reason and suggestion.startswith("recommend medium")
    ok, reason, suggestion = negotiate_quality(0.95, "high", config)
    assert not ok and suggestion == "accept quality 0.60 or increase resources"
    with pytest.raises(ValueError):
        negotiate_quality(1.5, "medium", config)


def test_missing_sensors_are_unavailable_never_zero(tmp_path):
    root = tmp_path / "bare"
    root.mkdir()
    a = gauge(str(root), FakePsutil(has_sensors=False)).assess()
    r = a.readings
    for name in ("temperature_c", "psi_cpu_some10", "throttled", "battery_percent", "load_per_core", "model"):
        assert getattr(r, name) is None and name in r.unavailable()
    assert r.to_dict()["temperature_c"] is None and r.throttled_now is None


def test_malformed_sensor_files_are_unavailable(tmp_path):
    root = machine(tmp_path, throttled=0)
    fw = tmp_path / "root" / "sys" / "devices" / "platform" / "soc" / "soc:firmware" / "get_throttled"
    fw.write_text("garbage\n")
    (tmp_path / "root" / "proc" / "loadavg").write_text("\n")
    zone = tmp_path / "root" / "sys" / "class" / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("hot\n")
    r = gauge(root, FakePsutil(has_sensors=False)).assess().readings
    assert r.throttled is None and r.load_per_core is None and r.temperature_c is None


def test_the_user_override_wins(tmp_path):
    a = gauge(machine(tmp_path, model=PI, throttled=0x4)).assess(override="low")
    assert a.level == PressureLevel.LOW and a.overridden
    assert a.reasons[0] == "override: low (measured high)"
    with pytest.raises(ValueError):
        gauge(machine(tmp_path / "x")).assess(override="panic")


def test_urgency_makes_high(tmp_path):
    a = gauge(machine(tmp_path, temp_c=40)).assess(urgency="urgent")
    assert a.level == PressureLevel.HIGH and "the user says it is urgent" in a.reasons


def test_hysteresis_goes_up_at_once_and_down_only_after_calm(tmp_path):
    now = [0.0]
    cpu = FakePsutil(cpu=95)
    g = gauge(machine(tmp_path), cpu, clock=lambda: now[0])
    assert g.assess().level == PressureLevel.HIGH
    levels = []
    for step, value in enumerate([85, 92, 80, 91, 88]):  # wavering around the enter threshold (90)
        now[0] = 1.0 + step
        cpu.cpu = value
        levels.append(g.assess().level)
    assert levels == [PressureLevel.HIGH] * 5  # no flapping
    cpu.cpu = 20
    now[0] = 10.0
    assert g.assess().level == PressureLevel.HIGH  # calm starts
    now[0] = 39.0
    assert g.assess().level == PressureLevel.HIGH  # 29 s calm of 30
    now[0] = 41.0
    assert g.assess().level == PressureLevel.MEDIUM


def test_the_low_window_when_calm(tmp_path):
    assert gauge(machine(tmp_path), localtime=MIDNIGHT).assess().level == PressureLevel.LOW
    assert gauge(machine(tmp_path / "b", temp_c=90), localtime=MIDNIGHT).assess().level == PressureLevel.HIGH


def test_a_low_battery_is_high_only_on_battery(tmp_path):
    low = SimpleNamespace(percent=10, power_plugged=False)
    assert gauge(machine(tmp_path), FakePsutil(battery=low)).assess().level == PressureLevel.HIGH
    plugged = SimpleNamespace(percent=10, power_plugged=True)
    assert gauge(machine(tmp_path / "b"), FakePsutil(battery=plugged)).assess().level == PressureLevel.MEDIUM


def test_a_bad_override_file_names_the_key(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("levels:\n  high:\n    alowed_tiers: [reuse]\n")
    with pytest.raises(ValueError, match="alowed_tiers"):
        PressureConfig.load(str(bad))
    bad.write_text("calm: 3\n")
    with pytest.raises(ValueError, match="unknown key 'calm'"):
        PressureConfig.load(str(bad))


def test_this_machine_reads_without_raising():
    r = Sensors(cpu_interval=0.0).read()
    assert r.psi_cpu_some10 is not None  # PSI is present on these machines (DESIGN.md)
    assert r.platform
