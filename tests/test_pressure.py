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


TIERS = [
    ("library", "reuse", None),
    ("fast", "embedded", 2000.0),
    ("balanced", "ollama", 5000.0),
    ("powerful", "anthropic", 3000.0),
    ("script", "scripted", 10.0),
]


def test_at_high_only_reuse_and_the_embedded_tier_run(tmp_path):
    a = gauge(machine(tmp_path, temp_c=90)).assess()
    allowed, refused = allowed_tiers(a, TIERS)
    assert set(a.allowed_tiers) == {"reuse", "embedded"}
    assert allowed == ["library", "fast"]
    assert refused == [
        "balanced (ollama): not allowed under high pressure",
        "powerful (anthropic): not allowed under high pressure",
        "script (scripted): not allowed under high pressure",
    ]
    calm = gauge(machine(tmp_path / "calm", temp_c=40)).assess()
    assert calm.level == PressureLevel.MEDIUM and allowed_tiers(calm, TIERS) == ([t[0] for t in TIERS], [])


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
    assert r.under_voltage_now is None and "under_voltage_alarm" in r.unavailable()
    # a psutil that has the calls but no battery and no sensors answers None, not 0
    r = gauge(str(root), FakePsutil(battery=None, temps={})).assess().readings
    assert r.battery_percent is None and r.on_battery is None and r.temperature_c is None
    assert {"battery_percent", "on_battery", "temperature_c"} <= set(r.unavailable())
    assert r.cpu_percent == 5.0 and r.memory_percent == 30.0  # what could be read was


def test_with_nothing_read_the_night_window_is_not_taken_as_calm(tmp_path):
    root = tmp_path / "bare"
    root.mkdir()

    class Blind:  # a psutil with none of the calls, as on a platform psutil does not know
        def __getattr__(self, name):
            raise AttributeError(name)

    a = gauge(str(root), Blind(), localtime=MIDNIGHT).assess()
    assert a.level == PressureLevel.MEDIUM and "no reading shows it calm" in a.reasons[0]


def test_malformed_sensor_files_are_unavailable(tmp_path):
    root = machine(tmp_path, throttled=0)
    fw = tmp_path / "root" / "sys" / "devices" / "platform" / "soc" / "soc:firmware" / "get_throttled"
    fw.write_text("garbage\n")
    (tmp_path / "root" / "proc" / "loadavg").write_text("\n")
    zone = tmp_path / "root" / "sys" / "class" / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("hot\n")
    (tmp_path / "root" / "proc" / "pressure").mkdir()
    (tmp_path / "root" / "proc" / "pressure" / "cpu").write_text("some avg10=lots avg60=1\nfull avg10=nan\n")
    (tmp_path / "root" / "proc" / "pressure" / "memory").write_bytes(b"\xff\xfe\x00")
    dead = zone.parent / "thermal_zone1"
    dead.mkdir()
    (dead / "temp").write_text("-273000\n")  # a switched-off zone, not a frozen one
    odd = FakePsutil(has_sensors=False, cpu=float("nan"))
    odd.sensors_battery = lambda: SimpleNamespace(percent=None, power_plugged=False)
    r = gauge(root, odd).assess().readings
    assert r.throttled is None and r.load_per_core is None and r.temperature_c is None
    assert r.psi_cpu_some10 is None and r.psi_memory_some10 is None and r.psi_memory_full10 is None
    assert r.cpu_percent is None and r.battery_percent is None and r.on_battery is None


def test_throttle_bits_in_either_spelling_and_where_a_board_puts_them(tmp_path):
    root = machine(tmp_path / "a", model=PI)
    fw = tmp_path / "a" / "root" / "sys" / "devices" / "platform" / "soc@107c000000" / "soc@107c000000:firmware"
    fw.mkdir(parents=True)
    (fw / "get_throttled").write_text("throttled=0x50005\n")
    r = gauge(root).assess().readings
    assert r.throttled == 0x50005 and r.throttled_now and r.throttled_since_boot
    assert r.throttle_reasons() == [
        "under-voltage now",
        "throttled now",
        "under-voltage since boot",
        "throttled since boot",
    ]


def test_the_rpi_volt_alarm_stands_in_for_bit_0_where_get_throttled_is_absent(tmp_path):
    root = machine(tmp_path, model=PI, temp_c=45)
    hwmon = tmp_path / "root" / "sys" / "class" / "hwmon"
    for n, name in enumerate(("cpu_thermal", "rpi_volt")):
        (hwmon / f"hwmon{n}").mkdir(parents=True)
        (hwmon / f"hwmon{n}" / "name").write_text(name + "\n")
    (hwmon / "hwmon1" / "in0_lcrit_alarm").write_text("1\n")
    a = gauge(root).assess()
    assert a.readings.throttled is None and a.readings.under_voltage_now is True
    assert a.level == PressureLevel.HIGH and "throttled now: under-voltage now" in a.reasons
    (hwmon / "hwmon1" / "in0_lcrit_alarm").write_text("0\n")
    calm = gauge(root).assess()
    assert calm.readings.under_voltage_now is False and calm.level == PressureLevel.MEDIUM
    assert "under_voltage_alarm" not in calm.readings.unavailable() and "throttled" in calm.readings.unavailable()


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
    assert "easing, not yet calm: CPU 88% (> 70% to leave)" in g.assess().reasons
    cpu.cpu = 20
    now[0] = 10.0
    assert g.assess().level == PressureLevel.HIGH  # calm starts
    now[0] = 30.0
    cpu.cpu = 75  # above leave again: the calm clock starts over
    assert g.assess().level == PressureLevel.HIGH
    cpu.cpu = 20
    now[0] = 31.0
    assert g.assess().level == PressureLevel.HIGH
    now[0] = 60.0
    assert g.assess().level == PressureLevel.HIGH  # 29 s calm of 30
    now[0] = 62.0
    assert g.assess().level == PressureLevel.MEDIUM
    now[0] = 63.0
    cpu.cpu = 91
    assert g.assess().level == PressureLevel.HIGH  # and up again at once


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
    for text, named in [
        ("levels:\n  high:\n    min_quality_threshold: 1.5\n", "levels.high.min_quality_threshold"),
        ("levels:\n  high:\n    can_reject: 'yes'\n", "levels.high.can_reject"),
        ("levels:\n  high:\n    allowed_tiers: [reuse, gpt5]\n", "levels.high.allowed_tiers"),
        ("levels:\n  low:\n    fallback: low\n", "levels.low.fallback"),
        ("levels:\n  high:\n    max_latency_ms: 0\n", "levels.high.max_latency_ms"),
        ("levels:\n  urgent: {}\n", "levels.urgent"),
        ("levels: 5\n", "levels must be a mapping"),
        ("high_when:\n  cpu_percent: {enter: 50, leave: 60}\n", "high_when.cpu_percent.leave"),
        ("high_when:\n  battery_percent: {enter: 20, leave: 10}\n", "high_when.battery_percent.leave"),
        ("high_when:\n  gpu_percent: {enter: 50, leave: 40}\n", "high_when.gpu_percent"),
        ("high_when:\n  cpu_percent: {enter: 50, leaves: 40}\n", "high_when.cpu_percent.leaves"),
        ("calm_s: -1\n", "calm_s"),
        ("low_window: 22-06\n", "low_window"),
        ("throttled_now_is_high: 1\n", "throttled_now_is_high"),
        ("- a list\n", "must be a mapping"),
    ]:
        bad.write_text(text)
        with pytest.raises(ValueError, match=named.replace(".", r"\.")):
            PressureConfig.load(str(bad))


def test_a_user_file_overrides_only_what_it_names(tmp_path):
    user = tmp_path / "p.yaml"
    user.write_text(
        "levels:\n  high:\n    max_latency_ms: 5000\n"
        "high_when:\n  cpu_percent: {enter: 60, leave: 40}\n  memory_percent: null\n"
        "low_window: null\ncalm_s: 5\n"
    )
    config, shipped = PressureConfig.load(str(user)), PressureConfig.load()
    assert config.levels[PressureLevel.HIGH].max_latency_ms == 5000
    assert config.levels[PressureLevel.HIGH].allowed_tiers == shipped.levels[PressureLevel.HIGH].allowed_tiers
    assert config.high_when["cpu_percent"] == (60.0, 40.0) and "memory_percent" not in config.high_when
    assert config.high_when["temperature_c"] == shipped.high_when["temperature_c"]
    assert config.low_window is None and config.calm_s == 5.0
    sensors = Sensors(machine(tmp_path), FakePsutil(cpu=65), localtime=lambda: MIDNIGHT, cpu_interval=0.0)
    assert PressureGauge(config, sensors).assess().level == PressureLevel.HIGH  # 65% >= the user's 60
    sensors.psutil.cpu = 5
    assert PressureGauge(config, sensors).assess().level == PressureLevel.MEDIUM  # no night window


def test_this_machine_reads_without_raising_and_cheaply():
    sensors = Sensors()
    r = sensors.read()
    assert r.psi_cpu_some10 is not None  # PSI is present on these machines (DESIGN.md)
    assert r.platform and r.to_dict()["unavailable"] == r.unavailable()
    best = min(_timed(sensors.read) for _ in range(5))
    assert best < 0.005  # the TUI reads every 1-2 s


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start
