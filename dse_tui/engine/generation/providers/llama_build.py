"""Which llama.cpp build this CPU can really run, and building it once per CPU.

A native llama.cpp build (`-march=native`, pip's default) emits every instruction
the CPU advertises. Inside some VMs the CPU advertises AMX and faults on it: the
first generated token dies with SIGILL. So DSE never builds natively. Each SIMD
extension is switched on only where the kernel lists it *and* a tiny program using
it, compiled with the same flag, runs here; AMX is never switched on. On a
Raspberry Pi 5 (Cortex-A76) that gives `-march=armv8.2-a+dotprod+fp16`, on a Pi 4
plain `armv8-a`.

pip's wheel cache is keyed by the source archive, not by CMAKE_ARGS, so a wheel
built on another CPU would be reused silently. `install` builds with pip's cache
off into a cache of our own keyed by the flags, the Python and the machine.

Runs as a script before DSE is installed (stdlib only):
    python llama_build.py flags             # the CMAKE_ARGS for this CPU
    python llama_build.py install --python .venv/bin/python
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

PACKAGE = "llama-cpp-python"
MARKER = "llama-build.json"  # under <venv>/share/dse: what install built, for `dse doctor`

# x86 extensions in the order of ggml's CMake options: (our name, cpuinfo flags that must
# all be listed, GGML option, compiler flags, a statement using the extension).
X86: tuple[tuple[str, tuple[str, ...], str, str, str], ...] = (
    ("sse42", ("sse4_2",), "GGML_SSE42", "-msse4.2", "r = (int)_mm_crc32_u32((unsigned)r, (unsigned)n);"),
    (
        "avx",
        ("avx",),
        "GGML_AVX",
        "-mavx",
        "__m256 v = _mm256_set1_ps((float)n); v = _mm256_add_ps(v, v); r += (int)_mm256_cvtss_f32(v);",
    ),
    (
        "avx2",
        ("avx2",),
        "GGML_AVX2",
        "-mavx2",
        "__m256i v = _mm256_set1_epi32(n); v = _mm256_add_epi32(v, v); r += _mm256_extract_epi32(v, 0);",
    ),
    (
        "fma",
        ("fma",),
        "GGML_FMA",
        "-mfma",
        "__m256 v = _mm256_set1_ps((float)n); v = _mm256_fmadd_ps(v, v, v); r += (int)_mm256_cvtss_f32(v);",
    ),
    (
        "f16c",
        ("f16c",),
        "GGML_F16C",
        "-mf16c",
        "__m128 v = _mm_cvtph_ps(_mm_set1_epi16((short)n)); r += (int)_mm_cvtss_f32(v);",
    ),
    ("bmi2", ("bmi2",), "GGML_BMI2", "-mbmi2", "r += (int)_pdep_u64((unsigned long long)n, 0x5555ULL);"),
    (
        "avx_vnni",
        ("avx_vnni",),
        "GGML_AVX_VNNI",
        "-mavxvnni",
        "__m256i v = _mm256_set1_epi32(n); v = _mm256_dpbusd_avx_epi32(v, v, v); r += _mm256_extract_epi32(v, 0);",
    ),
    (
        "avx512",
        ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"),
        "GGML_AVX512",
        "-mavx512f -mavx512cd -mavx512vl -mavx512dq -mavx512bw",
        "__m512i v = _mm512_set1_epi16((short)n); v = _mm512_add_epi16(v, v);"
        " r += _mm_cvtsi128_si32(_mm512_castsi512_si128(v));",
    ),
    (
        "avx512_vbmi",
        ("avx512vbmi",),
        "GGML_AVX512_VBMI",
        "-mavx512f -mavx512vbmi",
        "__m512i v = _mm512_set1_epi8((char)n); v = _mm512_permutexvar_epi8(v, v);"
        " r += _mm_cvtsi128_si32(_mm512_castsi512_si128(v));",
    ),
    (
        "avx512_vnni",
        ("avx512_vnni",),
        "GGML_AVX512_VNNI",
        "-mavx512f -mavx512vnni",
        "__m512i v = _mm512_set1_epi32(n); v = _mm512_dpbusd_epi32(v, v, v);"
        " r += _mm_cvtsi128_si32(_mm512_castsi512_si128(v));",
    ),
    (
        "avx512_bf16",
        ("avx512_bf16",),
        "GGML_AVX512_BF16",
        "-mavx512f -mavx512bf16",
        "__m512 f = _mm512_set1_ps((float)n); __m512bh b = _mm512_cvtne2ps_pbh(f, f);"
        " f = _mm512_dpbf16_ps(f, b, b); r += (int)_mm512_reduce_add_ps(f);",
    ),
)
# An extension is only used on top of the ones it builds on (ggml's code paths assume so).
X86_NEEDS = {
    "avx2": ("avx",),
    "fma": ("avx",),
    "f16c": ("avx",),
    "avx_vnni": ("avx2",),
    "avx512": ("avx2", "fma", "f16c"),
    "avx512_vbmi": ("avx512",),
    "avx512_vnni": ("avx512",),
    "avx512_bf16": ("avx512",),
}
# Never built, whatever the CPU says: AMX faults in VMs that advertise it.
X86_NEVER = ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")

# 64-bit ARM: (our name, /proc/cpuinfo Features that must all be listed, -march suffix, statement).
ARM: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    (
        "dotprod",
        ("asimddp",),
        "+dotprod",
        "int8x16_t a = vdupq_n_s8((signed char)n); int32x4_t s = vdupq_n_s32(0); s = vdotq_s32(s, a, a);"
        " r += vgetq_lane_s32(s, 0);",
    ),
    (
        "fp16",
        ("fphp", "asimdhp"),
        "+fp16",
        "float16x8_t h = vdupq_n_f16((float16_t)n); h = vaddq_f16(h, h); r += (int)vgetq_lane_f16(h, 0);",
    ),
    (
        "i8mm",
        ("i8mm",),
        "+i8mm",
        "int8x16_t a = vdupq_n_s8((signed char)n); int32x4_t s = vdupq_n_s32(0); s = vmmlaq_s32(s, a, a);"
        " r += vgetq_lane_s32(s, 0);",
    ),
)

Probe = Callable[[str, str], bool]  # (compiler flags, C statement) -> it compiled and ran here


def cpu_features(cpuinfo: str) -> set[str]:
    """The kernel's feature list: x86 'flags', ARM 'Features' (first CPU's line)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return set(value.split())
    return set()


def machine_kind(machine: str) -> str:
    machine = machine.lower()
    if machine in ("x86_64", "amd64"):
        return "x86_64"
    if machine in ("aarch64", "arm64"):
        return "aarch64"
    return "other"


def choose_x86(listed: set[str], probe: Probe) -> list[str]:
    """x86 extensions the kernel lists, whose prerequisites are chosen, and that run here."""
    chosen: list[str] = []
    for name, flags, _option, cflags, statement in X86:
        if not all(f in listed for f in flags):
            continue
        if not all(n in chosen for n in X86_NEEDS.get(name, ())):
            continue
        if probe(cflags, statement):
            chosen.append(name)
    return chosen


def choose_arm(listed: set[str], probe: Probe) -> list[str]:
    chosen: list[str] = []
    for name, flags, _suffix, statement in ARM:
        if all(f in listed for f in flags) and probe(f"-march={arm_march(chosen + [name])}", statement):
            chosen.append(name)
    return chosen


def arm_march(features: Iterable[str]) -> str:
    features = list(features)
    if not features:
        return "armv8-a"
    suffixes = "".join(suffix for name, _, suffix, _ in ARM if name in features)
    return f"armv8.2-a{suffixes}"


def cmake_args(kind: str, features: Iterable[str]) -> list[str]:
    """Every instruction-set option set explicitly: with GGML_NATIVE=OFF ggml switches
    AVX/AVX2/FMA/F16C/BMI2 on by default, which a CPU without them cannot run."""
    features = set(features)
    args = ["-DGGML_NATIVE=OFF", "-DLLAVA_BUILD=OFF"]  # no multimodal library: DSE does not use it
    if kind == "x86_64":
        args += [f"-D{option}={'ON' if name in features else 'OFF'}" for name, _, option, _, _ in X86]
        args += [f"-D{option}=OFF" for option in X86_NEVER]
    elif kind == "aarch64":
        args.append(f"-DGGML_CPU_ARM_ARCH={arm_march(features)}")
    return args


# -- probing with the real compiler ---------------------------------------------------------

_X86_HEADER = "#include <immintrin.h>\n"
_ARM_HEADER = "#include <arm_neon.h>\n"


def compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def make_probe(kind: str, cc: str | None) -> Probe:
    """Compile a program that uses the extension with its flag and run it: a kernel may list
    what a hypervisor does not let run. No compiler: nothing is switched on."""
    header = _X86_HEADER if kind == "x86_64" else _ARM_HEADER

    def probe(cflags: str, statement: str) -> bool:
        if cc is None:
            return False
        source = f"{header}int main(int argc, char **argv) {{ int n = argc; int r = 0; {statement} return r == 12345 ? 1 : 0; }}\n"
        with tempfile.TemporaryDirectory(prefix="dse-cpu-probe-") as tmp:
            c_file, binary = os.path.join(tmp, "probe.c"), os.path.join(tmp, "probe")
            Path(c_file).write_text(source, encoding="utf-8")
            built = subprocess.run([cc, "-O0", *cflags.split(), c_file, "-o", binary], capture_output=True, timeout=60)
            if built.returncode != 0:
                return False
            try:
                ran = subprocess.run([binary], capture_output=True, timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                return False
            return ran.returncode in (0, 1)  # a signal (SIGILL) is a negative code

    return probe


def detect(cpuinfo_path: str = "/proc/cpuinfo", machine: str | None = None) -> tuple[str, list[str]]:
    """(machine kind, extensions to build with) for this machine."""
    kind = machine_kind(machine or platform.machine())
    try:
        listed = cpu_features(Path(cpuinfo_path).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        listed = set()
    probe = make_probe(kind, compiler())
    if kind == "x86_64":
        return kind, choose_x86(listed, probe)
    if kind == "aarch64":
        return kind, choose_arm(listed, probe)
    return kind, []


# -- building and installing --------------------------------------------------------------


def required_version(pyproject: Path) -> str:
    """The exact llama-cpp-python version the project pins (`llama-cpp-python==X`)."""
    match = re.search(r'"llama-cpp-python==([0-9][^"\s;,]*)"', pyproject.read_text(encoding="utf-8"))
    if not match:
        raise SystemExit(f"{pyproject}: no exact llama-cpp-python==VERSION pin found")
    return match.group(1)


def build_key(version: str, args: list[str], python_tag: str, machine: str) -> str:
    text = json.dumps([PACKAGE, version, args, python_tag, machine])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dse" / "llama-wheels"


def _python_facts(python: str) -> tuple[str, str]:
    code = "import sys, sysconfig; print(f'cp{sys.version_info[0]}{sys.version_info[1]}'); print(sys.prefix)"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    return out[0].strip(), out[1].strip()


def _installed_marker(prefix: str) -> dict | None:
    try:
        return json.loads((Path(prefix) / "share" / "dse" / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def install(python: str, pyproject: Path) -> int:
    kind, features = detect()
    args = cmake_args(kind, features)
    version = required_version(pyproject)
    tag, prefix = _python_facts(python)
    key = build_key(version, args, tag, platform.machine())
    said = f"llama-cpp-python {version} for this CPU ({kind}: {' '.join(features) or 'baseline'})"
    marker = _installed_marker(prefix)
    if marker and marker.get("key") == key and _importable(python):
        print(f"{said}: already installed", file=sys.stderr)
        return 0
    wheels = cache_root() / key
    found = sorted(wheels.glob("llama_cpp_python-*.whl")) if wheels.is_dir() else []
    if not found:
        print(f"{said}: building once, about 6 minutes on 2 cores (kept in {wheels})", file=sys.stderr)
        wheels.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="dse-llama-build-", dir=wheels.parent) as tmp:
            env = {**os.environ, "CMAKE_ARGS": " ".join(args), "FORCE_CMAKE": "1"}
            subprocess.run(
                [
                    python,
                    "-m",
                    "pip",
                    "wheel",
                    "-q",
                    "--no-deps",
                    "--no-cache-dir",
                    "--no-binary",
                    PACKAGE,
                    f"{PACKAGE}=={version}",
                    "-w",
                    tmp,
                ],
                env=env,
                check=True,
            )
            for wheel in Path(tmp).glob("llama_cpp_python-*.whl"):
                os.replace(wheel, wheels / wheel.name)  # only a finished wheel enters the cache
        found = sorted(wheels.glob("llama_cpp_python-*.whl"))
        if not found:
            raise SystemExit(f"building {PACKAGE} left no wheel in {wheels}")
    else:
        print(f"{said}: using the wheel built for these flags in {wheels}", file=sys.stderr)
    subprocess.run([python, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(found[-1])], check=True)
    # its own requirements (numpy, jinja2, diskcache, typing-extensions) come with DSE's install
    share = Path(prefix) / "share" / "dse"
    share.mkdir(parents=True, exist_ok=True)
    (share / MARKER).write_text(
        json.dumps(
            {"key": key, "version": version, "machine": kind, "features": features, "cmake_args": args}, indent=2
        )
        + "\n",
        encoding="utf-8",
    )
    return 0


def _importable(python: str) -> bool:
    probe = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('llama_cpp') else 1)"
    return subprocess.run([python, "-c", probe], capture_output=True).returncode == 0


def installed_build(prefix: str | None = None) -> dict | None:
    """What `install` recorded for this environment (None: llama-cpp-python came another way)."""
    return _installed_marker(prefix or sys.prefix)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("flags", help="print the CMAKE_ARGS for this CPU")
    inst = sub.add_parser("install", help="build (once per CPU and flags) and install llama-cpp-python")
    inst.add_argument("--python", default=sys.executable, help="the interpreter of the environment to install into")
    inst.add_argument("--pyproject", default=str(Path(__file__).resolve().parents[4] / "pyproject.toml"))
    args = parser.parse_args(argv)
    if args.command == "flags":
        kind, features = detect()
        print(" ".join(cmake_args(kind, features)))
        return 0
    return install(args.python, Path(args.pyproject))


if __name__ == "__main__":
    raise SystemExit(main())
