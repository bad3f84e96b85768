"""The choice of llama.cpp build flags: only what the CPU lists *and* runs, AMX never, every
option explicit (with GGML_NATIVE=OFF ggml would switch AVX2 and friends on by default)."""

from __future__ import annotations

import pytest

from dse_tui.engine.generation.providers import llama_build as lb

# The CPU of the VMs where native builds died: it advertises AMX, and AMX faults there.
INTEL_AMX_VM = ("processor: 0\nflags: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma bmi2 avx2 avx512f avx512dq "
                "avx512cd avx512bw avx512vl avx512vbmi avx512_vnni avx512_bf16 avx_vnni amx_bf16 amx_tile amx_int8\n")
OLD_X86 = "flags: fpu sse sse2 ssse3 sse4_1 sse4_2 avx\n"
PI5 = ("processor: 0\nBogoMIPS: 108.00\nFeatures: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp "
       "cpuid asimdrdm lrcpc dcpop asimddp\nCPU part: 0xd0b\n")
PI4 = "Features: fp asimd evtstrm crc32 cpuid\nCPU part: 0xd08\n"


def runs_all(_cflags: str, _statement: str) -> bool:
    return True


def options(args: list[str]) -> dict[str, str]:
    return dict(a[2:].split("=", 1) for a in args)


def test_an_amx_vm_gets_avx512_but_never_amx_and_never_native():
    chosen = lb.choose_x86(lb.cpu_features(INTEL_AMX_VM), runs_all)
    opts = options(lb.cmake_args("x86_64", chosen))
    assert opts["GGML_NATIVE"] == "OFF"
    assert opts["GGML_AVX512"] == opts["GGML_AVX512_VNNI"] == opts["GGML_AVX2"] == "ON"
    assert opts["GGML_AMX_TILE"] == opts["GGML_AMX_INT8"] == opts["GGML_AMX_BF16"] == "OFF"


def test_an_extension_the_cpu_lists_but_cannot_run_is_left_out_with_what_builds_on_it():
    def no_avx512(cflags: str, _statement: str) -> bool:
        return "-mavx512f" not in cflags

    chosen = lb.choose_x86(lb.cpu_features(INTEL_AMX_VM), no_avx512)
    opts = options(lb.cmake_args("x86_64", chosen))
    assert opts["GGML_AVX2"] == opts["GGML_FMA"] == "ON"
    assert opts["GGML_AVX512"] == opts["GGML_AVX512_VBMI"] == opts["GGML_AVX512_VNNI"] == opts["GGML_AVX512_BF16"] == "OFF"


def test_a_cpu_without_avx2_gets_it_switched_off_explicitly():
    opts = options(lb.cmake_args("x86_64", lb.choose_x86(lb.cpu_features(OLD_X86), runs_all)))
    assert opts["GGML_AVX"] == "ON" and opts["GGML_SSE42"] == "ON"
    assert opts["GGML_AVX2"] == opts["GGML_FMA"] == opts["GGML_F16C"] == opts["GGML_BMI2"] == "OFF"


def test_without_a_working_compiler_nothing_is_switched_on():
    chosen = lb.choose_x86(lb.cpu_features(INTEL_AMX_VM), lb.make_probe("x86_64", None))
    assert chosen == []
    assert all(v == "OFF" for k, v in options(lb.cmake_args("x86_64", chosen)).items() if k.startswith("GGML_AVX"))


def test_a_raspberry_pi_5_gets_dotprod_and_fp16_and_a_pi_4_the_baseline():
    pi5 = lb.choose_arm(lb.cpu_features(PI5), runs_all)
    assert pi5 == ["dotprod", "fp16"]
    assert options(lb.cmake_args("aarch64", pi5))["GGML_CPU_ARM_ARCH"] == "armv8.2-a+dotprod+fp16"
    pi4 = lb.choose_arm(lb.cpu_features(PI4), runs_all)
    assert options(lb.cmake_args("aarch64", pi4))["GGML_CPU_ARM_ARCH"] == "armv8-a"
    assert options(lb.cmake_args("aarch64", pi5))["GGML_NATIVE"] == "OFF"


def test_arm_probes_are_compiled_for_the_march_they_would_enable():
    seen: list[str] = []

    def record(cflags: str, _statement: str) -> bool:
        seen.append(cflags)
        return "i8mm" not in cflags

    chosen = lb.choose_arm(lb.cpu_features(PI5) | {"i8mm"}, record)
    assert chosen == ["dotprod", "fp16"]
    assert seen == ["-march=armv8.2-a+dotprod", "-march=armv8.2-a+dotprod+fp16", "-march=armv8.2-a+dotprod+fp16+i8mm"]


def test_other_machines_build_without_native():
    assert lb.cmake_args("other", []) == ["-DGGML_NATIVE=OFF", "-DLLAVA_BUILD=OFF"]
    assert lb.machine_kind("armv7l") == "other" and lb.machine_kind("AMD64") == "x86_64"


def test_the_wheel_cache_key_follows_flags_python_and_machine():
    args = lb.cmake_args("x86_64", ["avx", "avx2"])
    key = lb.build_key("0.3.36", args, "cp311", "x86_64")
    assert key == lb.build_key("0.3.36", list(args), "cp311", "x86_64")
    assert key != lb.build_key("0.3.36", lb.cmake_args("x86_64", ["avx"]), "cp311", "x86_64")
    assert key != lb.build_key("0.3.36", args, "cp312", "x86_64")
    assert key != lb.build_key("0.3.37", args, "cp311", "x86_64")


def test_the_pinned_version_is_read_from_the_project(tmp_path):
    from pathlib import Path

    root = Path(lb.__file__).resolve().parents[4]
    assert lb.required_version(root / "pyproject.toml") == "0.3.36"
    loose = tmp_path / "pyproject.toml"
    loose.write_text('dependencies = ["llama-cpp-python>=0.3"]\n')
    with pytest.raises(SystemExit):
        lb.required_version(loose)


def test_the_real_probe_refuses_an_illegal_instruction_and_runs_a_plain_one():
    if lb.machine_kind(__import__("platform").machine()) != "x86_64" or lb.compiler() is None:
        pytest.skip("needs an x86_64 machine with a C compiler")
    probe = lb.make_probe("x86_64", lb.compiler())
    assert probe("", "r += n;")
    assert not probe("", '__asm__ volatile("ud2");')  # SIGILL: the program could not run
    assert not probe("-mno-such-flag", "r += n;")  # the compiler refuses: not available


def test_this_machine_never_gets_amx_or_a_native_build():
    opts = options(lb.cmake_args(*lb.detect()))
    assert opts["GGML_NATIVE"] == "OFF"
    assert all(opts.get(o, "OFF") == "OFF" for o in lb.X86_NEVER)
