"""`dse` commands of the living system: pressure, drift, evolve, rollback, optimize, metrics,
accept and reject. Same contract as every command (dse_tui.cli): --json, exit 0 / 1 / 2."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_NO, EXIT_BAD = 0, 1, 2


def add_parsers(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("pressure", help="pressure readings, the level and why, and the tiers it allows")
    p.add_argument("--urgency", choices=["urgent", "normal"], help="the user's urgency for this assessment")
    p.add_argument(
        "--level", choices=["high", "medium", "low", "training"], help="override the level (also $DSE_PRESSURE)"
    )
    common(p)

    p = sub.add_parser("drift", help="drift alerts per artifact, from the detectors' state; --dismiss ID")
    p.add_argument("--all", action="store_true", help="every event, not only the open ones")
    p.add_argument(
        "--dismiss", type=int, metavar="EVENT", help="dismiss an open drift event (its level becomes normal)"
    )
    common(p)

    p = sub.add_parser("evolve", help="evolve an artifact now; promoted only if measured better than the incumbent")
    p.add_argument("ref", metavar="NAME_OR_ID")
    p.add_argument("--drift", choices=["latency", "errors", "quality", "cost"], help="the drift to evolve against")
    p.add_argument("--budget", type=float, metavar="USD", help="model spend this evolution may cause")
    p.add_argument("--timeout", type=float, metavar="S", help="the whole evolution's timeout in seconds")
    common(p)

    p = sub.add_parser("rollback", help="give an evolved artifact's place back to the version it evolved from")
    p.add_argument("ref", metavar="NAME_OR_ID")
    common(p)

    p = sub.add_parser("optimize", help="the batch optimizer: evolve drifting artifacts by value within a budget")
    p.add_argument("--batch", action="store_true", required=True, help="run a batch (the only mode)")
    p.add_argument("--budget", type=float, metavar="USD", help="what this run may spend (default: the daily budget)")
    p.add_argument("--force", action="store_true", help="run outside the optimization window")
    common(p)

    p = sub.add_parser("metrics", help="an artifact's measured executions: windows, cost, drift state")
    p.add_argument("ref", metavar="NAME_OR_ID")
    common(p)

    for verb, meaning in (("accept", "accepted"), ("reject", "rejected")):
        p = sub.add_parser(verb, help=f"say an artifact's output was {meaning}: its quality threshold follows")
        p.add_argument("ref", metavar="NAME_OR_ID")
        common(p)


def _c():
    from dse_tui import cli_common

    return cli_common


def _fmt(value: Any, digits: int = 1, unit: str = "") -> str:
    return "unavailable" if value is None else f"{value:.{digits}f}{unit}"


def cmd_pressure(args: argparse.Namespace) -> int:
    cli = _c()
    engine = cli._open_engine(args, starter=False)
    assessment = engine.pressure(urgency=args.urgency, override=args.level)
    data = assessment.to_dict()
    if args.json:
        cli._print_json(data)
        return EXIT_OK
    console = cli._console()
    r = assessment.readings
    cli._hanging(
        console,
        "level",
        f"[bold]{assessment.level.value.upper()}[/]" + (" (override)" if assessment.overridden else ""),
    )
    cli._hanging(console, "why", cli._e("; ".join(assessment.reasons)))
    cli._hanging(console, "tiers", cli._e(", ".join(assessment.allowed_tiers)))
    ceiling = assessment.max_latency_ms
    cli._hanging(console, "ceiling", "none" if ceiling is None else f"{ceiling / 1000:g} s predicted latency per tier")
    rows = [
        ("CPU", _fmt(r.cpu_percent, 0, "%")),
        ("load", _fmt(r.load_per_core, 2, " per core")),
        ("memory", _fmt(r.memory_percent, 0, "%")),
        (
            "stall",
            f"cpu {_fmt(r.psi_cpu_some10, 1, '%')}, memory {_fmt(r.psi_memory_some10, 1, '%')}, io {_fmt(r.psi_io_some10, 1, '%')}",
        ),
        ("temp", _fmt(r.temperature_c, 1, " °C")),
        (
            "throttle",
            "unavailable" if r.throttled is None else f"0x{r.throttled:x}" + (" (now)" if r.throttled_now else ""),
        ),
        ("platform", cli._e(r.platform + (f" ({r.model})" if r.model else ""))),
        (
            "battery",
            "unavailable"
            if r.battery_percent is None
            else f"{r.battery_percent:.0f}%" + (" on battery" if r.on_battery else ""),
        ),
    ]
    for label, text in rows:
        cli._hanging(console, label, text, markup=label == "platform")
    return EXIT_OK


def cmd_drift(args: argparse.Namespace) -> int:
    cli = _c()
    engine = cli._open_engine(args, starter=False)
    if args.dismiss is not None:
        engine.dismiss_drift(args.dismiss)
    report = engine.drift_report()
    events = report["events"] if args.all else report["open"]
    if args.json:
        cli._print_json({**report, "shown": events})
        return EXIT_OK
    console = cli._console()
    if args.dismiss is not None:
        console.print(f"drift event {args.dismiss} dismissed")
    console.print(f"{report['watched']} artifact(s) watched; {len(report['open'])} open drift alert(s)")
    if not events:
        return EXIT_OK
    table = cli._table("id", "name", "type", "severity", "action", "status", "figures")
    for e in events:
        figures = e["figures"]
        shown = ", ".join(
            f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in figures.items()
            if k in ("ratio", "recent_ms", "baseline_ms", "recent_error_rate", "baseline_error_rate", "pass_rate")
        )
        table.add_row(
            str(e["id"]),
            cli._e(e["name"]),
            e["type"],
            f"{e['severity']:.2f}",
            e["action"],
            e["status"],
            cli._e(e["explanation"] or shown),
        )
    cli._print_listing(console, table, keys=("id", "name"))
    return EXIT_OK


def _print_evolution(console, cli, result: dict[str, Any]) -> None:
    status = result["status"]
    colour = {"promoted": "green", "rejected": "yellow"}.get(status, "red")
    console.print(f"[{colour}]{status}[/]: {cli._e(result['reason'])}")
    evidence = result.get("evidence") or {}
    floor = evidence.get("noise_floor")
    if floor:
        console.print(f"  A/A noise floor {floor['gap'] * 100:.1f}% over {floor['rounds']} paired rounds")
    for attempt in evidence.get("attempts", []):
        paired = attempt.get("paired")
        line = f"  attempt {attempt['attempt']} ({cli._e(attempt.get('tier'))}): "
        if attempt.get("promoted"):
            line += "promoted"
        else:
            line += cli._e(attempt.get("rejected", ""))
        if paired:
            line += (
                f" [dim]median {paired['incumbent_median_ms']:.4g} -> {paired['candidate_median_ms']:.4g} ms, "
                f"gain {paired['gain'] * 100:+.1f}%, p={paired['p']:.2g}[/]"
            )
        console.print(line)
    if result.get("candidate_id"):
        console.print(
            f"  v{result['candidate_version']} {result['candidate_id']}; undo: dse rollback {result['candidate_id'][:8]}"
        )


def cmd_evolve(args: argparse.Namespace) -> int:
    from dse_tui.engine.evolution.evolve import EvolutionSettings

    cli = _c()
    engine = cli._open_engine(args, starter=False)
    overrides: dict[str, Any] = {}
    if args.budget is not None:
        overrides["budget_usd"] = args.budget
    if args.timeout is not None:
        overrides["timeout_s"] = args.timeout
    settings = EvolutionSettings.load(**overrides)
    started = time.monotonic()
    result = engine.evolve(args.ref, drift=args.drift, settings=settings).to_dict()
    result["seconds"] = round(time.monotonic() - started, 2)
    if args.json:
        cli._print_json(result)
    else:
        _print_evolution(cli._console(), cli, result)
    return EXIT_OK if result["status"] == "promoted" else EXIT_NO


def cmd_rollback(args: argparse.Namespace) -> int:
    cli = _c()
    engine = cli._open_engine(args, starter=False)
    restored, rolled = engine.rollback(args.ref)
    if args.json:
        cli._print_json({"restored": restored.to_dict(), "rolled_back": rolled.to_dict()})
        return EXIT_OK
    cli._console().print(
        f"{cli._e(restored.name)} v{restored.version} ({restored.id[:8]}) serves again; "
        f"v{rolled.version} ({rolled.id[:8]}) is kept, superseded"
    )
    return EXIT_OK


def cmd_optimize(args: argparse.Namespace) -> int:
    cli = _c()
    engine = cli._open_engine(args, starter=False)
    report = engine.optimize(budget_usd=args.budget, force=args.force)
    if args.json:
        cli._print_json(report)
        return EXIT_OK if report["ran"] else EXIT_NO
    console = cli._console()
    if not report["ran"]:
        console.print(cli._e(report["why"]))
        return EXIT_NO
    summary = report.get("summary") or {}
    results = summary.get("results", [])
    console.print(
        f"optimizer run {report['id']}: {len(results)} candidate(s), spent ${report['spent_usd']:.4f} "
        f"of ${report['budget_usd']:.4f}" + (" (resumed)" if report.get("resumed") else "")
    )
    for r in results:
        roi = r.get("roi")
        value = r.get("value")
        console.print(
            f"  {cli._e(r['name'])}: {r['status']} ({cli._e(r.get('why', ''))}); value "
            + ("undefined" if value is None else f"${value:.5f}")
            + ("" if roi is None else f", ROI {roi:.2f}")
        )
    return EXIT_OK


def cmd_metrics(args: argparse.Namespace) -> int:
    cli = _c()
    engine = cli._open_engine(args, starter=False)
    report = engine.metrics_report(args.ref)
    if args.json:
        cli._print_json(report)
        return EXIT_OK
    console = cli._console()
    recent, before = report["recent"], report["before"]
    console.print(f"{cli._e(report['name'])} v{report['version']}: {report['points']} raw points")

    def window(label: str, w: dict[str, Any]) -> None:
        cli._hanging(
            console,
            label,
            f"{w['count']} runs, {w['failures']} failed, mean {_fmt(w['mean_ms'], 3, ' ms')}, "
            f"p50 {_fmt(w['p50_ms'], 3, ' ms')}, p95 {_fmt(w['p95_ms'], 3, ' ms')}",
        )

    window("all", report["all"])
    window("recent", recent)
    window("before", before)
    cost = report["cost_per_execution_usd"]
    cli._hanging(console, "cost", "not priced (undefined)" if cost is None else f"${cost:.8f} per execution")
    cli._hanging(console, "quality", f"threshold {report['quality_threshold']:.2f}")
    return EXIT_OK


def _judge(args: argparse.Namespace, accepted: bool) -> int:
    cli = _c()
    engine = cli._open_engine(args, starter=False)
    out = engine.judge_output(args.ref, accepted)
    if args.json:
        cli._print_json(out)
        return EXIT_OK
    line = f"{'accepted' if accepted else 'rejected'}; threshold {out['threshold']:.2f}"
    if out["moved"]:
        line += f" (was {out['old']:.2f}: {out['why']})"
    else:
        line += f" ({out['why']})"
    cli._console().print(cli._e(line))
    return EXIT_OK


def cmd_accept(args: argparse.Namespace) -> int:
    return _judge(args, True)


def cmd_reject(args: argparse.Namespace) -> int:
    return _judge(args, False)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "pressure": cmd_pressure,
    "drift": cmd_drift,
    "evolve": cmd_evolve,
    "rollback": cmd_rollback,
    "optimize": cmd_optimize,
    "metrics": cmd_metrics,
    "accept": cmd_accept,
    "reject": cmd_reject,
}
