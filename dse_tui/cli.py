"""`dse` command line. No arguments opens the TUI.

Contract for scripts: every command takes --json; exit 0 on success, 1 when
it ran and the answer is no (spec failed, nothing found, run failed), 2 on bad
input with a one-line error and no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from dse_tui import __version__

EXIT_OK, EXIT_NO, EXIT_BAD = 0, 1, 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + traceback
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print machine-readable JSON")
    parser.add_argument("--home", default=argparse.SUPPRESS, help="data directory (default: $DSE_HOME or the XDG data dir)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dse",
        description="Digital Synthetic Evolution: tested Python code from behaviour specs. With no command, opens the TUI.",
        epilog="Exit codes: 0 success, 1 it ran and the answer is no, 2 bad input. Every command takes --json.",
    )
    parser.add_argument("--version", action="version", version=f"dse {__version__}")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--home", help="data directory (default: $DSE_HOME or the XDG data dir)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("add", help="test code against its spec in the sandbox and store it if it passes")
    p.add_argument("code", metavar="CODE.py")
    p.add_argument("--spec", required=True, metavar="SPEC.yaml")
    p.add_argument("--name", help="artifact name (default: the spec's function)")
    p.add_argument("--tags", default="", help="comma-separated tags")
    _common(p)

    p = sub.add_parser("find", help="find tested artifacts by meaning")
    p.add_argument("query")
    p.add_argument("--min-quality", type=float, default=0.0, metavar="Q")
    p.add_argument("--limit", type=int, default=5, metavar="K")
    p.add_argument("--type", choices=["FUNCTION", "WORKFLOW", "TOOL", "TEST"])
    p.add_argument("--tags", default="", help="comma-separated tags that must all be present")
    _common(p)

    p = sub.add_parser("run", help="run an artifact in the sandbox on JSON keyword arguments")
    p.add_argument("ref", metavar="NAME_OR_ID")
    p.add_argument("--input", default="{}", help='keyword arguments as a JSON object, e.g. \'{"items": [3, 1]}\'')
    _common(p)

    p = sub.add_parser("list", help="list stored artifacts")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--order", choices=["quality", "recent", "name", "usage"], default="name")
    _common(p)

    p = sub.add_parser("show", help="show one artifact: code, spec, test results, lineage")
    p.add_argument("ref", metavar="NAME_OR_ID")
    _common(p)

    p = sub.add_parser("doctor", help="which sandbox, embedder, LLM tiers and store are in use")
    _common(p)

    p = sub.add_parser("ask", help="reuse a tested artifact for TASK, or generate one up the model ladder")
    p.add_argument("task", metavar="TASK")
    p.add_argument("--spec", required=True, metavar="SPEC.yaml")
    p.add_argument("--max-tier", metavar="NAME", help="highest tier allowed (see `dse models`)")
    p.add_argument("--budget", type=float, metavar="USD", help="spend limit for this request")
    _common(p)

    p = sub.add_parser("transcripts", help="list generation transcripts, or show one attempt by attempt")
    p.add_argument("id", nargs="?", metavar="ID")
    p.add_argument("--limit", type=int, default=20)
    _common(p)

    p = sub.add_parser("models", help="the model ladder: tiers, availability and prices")
    _common(p)
    return parser


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _console():
    from rich.console import Console

    return Console(highlight=False)


def _e(value: Any) -> str:
    """Stored text (tasks, names, model replies, error messages) shown inside Rich markup:
    a `[/x]` in it must print as written, not be read as a tag."""
    from rich.markup import escape

    return escape(str(value))


def _open_engine(args: argparse.Namespace, *, starter: bool = True):
    from dse_tui.engine.facade import Engine

    engine = Engine(args.home)
    if starter:
        def progress(event) -> None:
            if sys.stderr.isatty():
                sys.stderr.write(f"\rimporting starter library {event.done}/{event.total} ")
                sys.stderr.flush()

        if engine.ensure_starter_library(progress) and sys.stderr.isatty():
            sys.stderr.write("\n")
    return engine


def _tags(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def cmd_add(args: argparse.Namespace) -> int:
    from dse_tui.engine.errors import SpecFailed

    engine = _open_engine(args)
    try:
        artifact = engine.add_files(args.code, args.spec, name=args.name, tags=_tags(args.tags))
    except SpecFailed as exc:
        failures = [c for c in exc.test_results["checks"] if not c["passed"]]
        if args.json:
            _print_json({"stored": False, "error": str(exc).splitlines()[0], "failures": failures, "test_results": exc.test_results})
        else:
            console = _console()
            console.print(f"[red]not stored[/]: {_e(str(exc).splitlines()[0])}")
            for f in failures:
                console.print(f"  [red]✗[/] {_e(f['name'])}: {_e(f['message'])}")
            if exc.test_results.get("error") and not failures:
                console.print(f"  {_e(exc.test_results['error'])}")
        return EXIT_NO
    if args.json:
        _print_json(artifact.to_dict())
    else:
        r = artifact.test_results
        _console().print(
            f"[green]stored[/] {_e(artifact.name)} v{artifact.version} ({artifact.id[:12]}) "
            f"quality {artifact.quality_score:.2f} = 0.4·pass {r['pass_rate']:.2f} + 0.3·coverage {r['coverage']:.2f} "
            f"+ 0.2·performance {r['performance_score']:.2f} + 0.1·robustness {r['robustness_score']:.2f}"
        )
    return EXIT_OK


def cmd_find(args: argparse.Namespace) -> int:
    engine = _open_engine(args)
    matches = engine.find_similar(args.query, min_quality=args.min_quality, limit=args.limit, type=args.type, tags=_tags(args.tags) or None)
    if args.json:
        _print_json([m.to_dict() for m in matches])
    else:
        from rich.table import Table

        table = Table("similarity", "quality", "name", "description", "id")
        for m in matches:
            a = m.artifact
            table.add_row(f"{m.similarity:.3f}", f"{a.quality_score:.2f}", _e(a.name), _e(a.description[:60]), a.id[:12])
        _console().print(table if matches else "nothing found")
    return EXIT_OK if matches else EXIT_NO


def cmd_run(args: argparse.Namespace) -> int:
    from dse_tui.engine.errors import BadInput

    try:
        inputs = json.loads(args.input)
    except json.JSONDecodeError as exc:
        raise BadInput(f"--input is not valid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(inputs, dict):
        raise BadInput('--input must be a JSON object of keyword arguments, e.g. {"items": [3, 1]}')
    engine = _open_engine(args)
    outcome = engine.run(args.ref, inputs)
    if args.json:
        _print_json(outcome.to_dict())
    else:
        console = _console()
        if outcome.success:
            console.print(outcome.call.repr, markup=False)
            console.print(f"[dim]{outcome.call.execution_time_ms:.2f} ms in the function, {outcome.call.wall_ms:.1f} ms sandboxed, {outcome.call.memory_mb:.1f} MB[/]")
        else:
            console.print(f"[red]failed[/]: {_e(outcome.call.error)}")
    return EXIT_OK if outcome.success else EXIT_NO


def cmd_list(args: argparse.Namespace) -> int:
    from dse_tui.engine.facade import summary
    from dse_tui.engine.errors import BadInput

    if args.limit < 1 or args.offset < 0:
        raise BadInput("--limit must be at least 1 and --offset at least 0")
    engine = _open_engine(args)
    artifacts = engine.list_artifacts(offset=args.offset, limit=args.limit, order=args.order)
    if args.json:
        _print_json([summary(a) for a in artifacts])
    else:
        from rich.table import Table

        table = Table("name", "quality", "uses", "type", "description", "id", title=f"{engine.count_artifacts()} artifacts")
        for a in artifacts:
            table.add_row(_e(a.name), f"{a.quality_score:.2f}", str(a.usage_count), a.type.value, _e(a.description[:50]), a.id[:12])
        _console().print(table)
    return EXIT_OK if artifacts else EXIT_NO


def cmd_show(args: argparse.Namespace) -> int:
    engine = _open_engine(args)
    artifact = engine.resolve(args.ref)
    lineage = engine.store.lineage(artifact.id)
    if args.json:
        _print_json({**artifact.to_dict(), "lineage": [a.id for a in lineage]})
        return EXIT_OK
    from rich.syntax import Syntax

    console = _console()
    console.print(f"[bold]{_e(artifact.name)}[/] v{artifact.version}  {artifact.id}  quality {artifact.quality_score:.2f}  used {artifact.usage_count}×")
    console.print(artifact.description, markup=False)
    console.print(Syntax(artifact.content, "python", theme="ansi_dark", line_numbers=True))
    console.print(Syntax(artifact.spec, "yaml", theme="ansi_dark"))
    for check in artifact.test_results.get("checks", []):
        console.print(f"  {'[green]✓[/]' if check['passed'] else '[red]✗[/]'} {_e(check['name'])}")
    if len(lineage) > 1:
        console.print("lineage: " + " → ".join(f"{a.name} v{a.version}" for a in lineage), markup=False)
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    engine = _open_engine(args, starter=False)
    report = engine.doctor()
    if args.json:
        _print_json(report)
    else:
        console = _console()
        sb = report["sandbox"]
        console.print(f"sandbox   {sb.get('description') or sb.get('selected')}", markup=False)
        if sb.get("warning"):
            console.print(f"[bold red]WARNING[/] {_e(sb['warning'])}")
        em = report["embedder"]
        console.print(f"embedder  {em.get('name', em.get('error'))} ({em.get('dim', '?')} dims)", markup=False)
        st = report["store"]
        console.print(f"store     {st['path']} — {st.get('count', '?')} artifacts, {st.get('size_bytes', 0) / 1e6:.1f} MB", markup=False)
        for tier in report["llm"].get("tiers", []):
            state = ("[green]available[/]" if tier["available"] else "[yellow]unavailable[/]") + f": {_e(tier['reason'])}"
            console.print(f"llm tier  {_e(tier['name']):<11} {_e(tier['provider'])}/{_e(tier['model'])} — {state}")
        if report["llm"].get("error"):
            console.print(f"llm       {report['llm']['error']}", markup=False)
    return EXIT_OK


def cmd_ask(args: argparse.Namespace) -> int:
    from dse_tui.engine.generation.ask import AttemptFinished, AttemptStarted, TierSkipped
    from dse_tui.engine.specs.spec import load_spec_file

    spec = load_spec_file(args.spec)
    engine = _open_engine(args)

    def progress(event) -> None:  # attempt-by-attempt progress on stderr; stdout stays JSON
        if isinstance(event, AttemptStarted):
            temp = "" if event.temperature is None else f" at temperature {event.temperature:g}"
            sys.stderr.write(f"attempt {event.n}: {event.tier} ({event.model}){temp}\n")
        elif isinstance(event, AttemptFinished):
            verdict = "passed" if event.passed else "failed: " + event.failures.splitlines()[0][:160] if event.failures else "failed"
            sys.stderr.write(f"attempt {event.n}: {verdict} ({event.duration_ms:.0f} ms, ${event.cost_usd:.4f})\n")
        elif isinstance(event, TierSkipped):
            sys.stderr.write(f"tier {event.tier} skipped: {event.reason}\n")

    result = engine.ask(args.task, spec, max_tier=args.max_tier, budget_usd=args.budget, on_event=progress)
    if args.json:
        _print_json(result.to_dict())
    else:
        console = _console()
        if result.start_tier:
            from dse_tui.engine.display import prediction_text

            console.print(f"[dim]{_e(prediction_text(result.start_tier, result.prediction))}[/]")
        if result.reused:
            console.print(f"[green]reused[/] {_e(result.artifact.name)} ({result.artifact.id[:12]}), cost $0")
        elif result.artifact:
            console.print(f"[green]generated[/] {_e(result.artifact.name)} ({result.artifact.id[:12]}) on tier {_e(result.tier)} "
                          f"in {result.attempts} attempt(s), ${result.cost_usd:.4f}, quality {result.artifact.quality_score:.2f}")
        else:
            console.print(f"[red]{result.outcome}[/]: {_e(result.reason)}")
        console.print(f"[dim]transcript {result.transcript_id}[/]")
    return EXIT_OK if result.artifact else EXIT_NO


def cmd_transcripts(args: argparse.Namespace) -> int:
    from dse_tui.engine.errors import NotFound

    engine = _open_engine(args, starter=False)
    log = engine.generation
    if args.id:
        transcript = log.get(args.id)
        if transcript is None:
            raise NotFound(f"no transcript with id '{args.id}'")
        if args.json:
            _print_json(transcript.to_dict())
            return EXIT_OK
        console = _console()
        console.print(f"[bold]{_e(transcript.task)}[/]  {transcript.outcome}  ${transcript.cost_usd:.4f}  {transcript.id}")
        if transcript.reason:
            console.print(transcript.reason, markup=False)
        for a in transcript.attempt_records:
            console.rule(_e(f"attempt {a.n}: {a.tier} {a.model} T={a.temperature}  {'passed' if a.passed else 'failed'}"))
            console.print(a.prompt[-1]["content"] if a.prompt else "", markup=False)
            console.print("[bold]reply[/]")
            console.print(a.reply or "", markup=False)
            if a.error:
                console.print(f"[red]{_e(a.error)}[/]")
        return EXIT_OK
    transcripts = log.list(limit=args.limit)
    if args.json:
        _print_json([{k: v for k, v in t.to_dict().items() if k != "attempt_records"} for t in transcripts])
    else:
        from rich.table import Table

        from rich import box

        table = Table("started", "outcome", "tries", "cost", "task", "id", box=box.SIMPLE_HEAD)
        for column, width in zip(table.columns, (11, 9, 5, 7, None, 8)):
            column.no_wrap, column.min_width = True, width
        table.columns[4].max_width = 24
        table.columns[4].overflow = "ellipsis"
        for t in transcripts:
            table.add_row(t.started_at[5:16].replace("T", " "), t.outcome, str(t.attempts), f"${t.cost_usd:.4f}", _e(t.task.splitlines()[0][:60]), t.id[:8])
        _console().print(table)
    return EXIT_OK if transcripts else EXIT_NO


def cmd_models(args: argparse.Namespace) -> int:
    from dse_tui.engine.doctor import tiers_section

    section = tiers_section()
    if "daily_budget_usd" in section:
        section["spent_today_usd"] = round(_open_engine(args, starter=False).generation.spent_today(), 6)
    if args.json:
        _print_json(section)
    else:
        console = _console()
        if section.get("error"):
            console.print(f"[red]{_e(section['error'])}[/]")
        for t in section["tiers"]:
            price = f"${t['price_in_per_mtok']:g}/${t['price_out_per_mtok']:g} per MTok in/out"
            state = ("[green]available[/]" if t["available"] else "[yellow]unavailable[/]") + f": {_e(t['reason'])}"
            console.print(f"[bold]{_e(t['name']):<11}[/] {_e(t['provider'])}/{_e(t['model'])}  {price}\n            {state}")
        if section.get("daily_budget_usd") is not None:
            console.print(f"daily budget ${section['daily_budget_usd']:g}, spent today ${section.get('spent_today_usd', 0):.4f}")
    return EXIT_NO if section.get("error") else EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "ask": cmd_ask,
    "transcripts": cmd_transcripts,
    "models": cmd_models,
    "add": cmd_add,
    "find": cmd_find,
    "run": cmd_run,
    "list": cmd_list,
    "show": cmd_show,
    "doctor": cmd_doctor,
}


def main(argv: list[str] | None = None) -> int:
    from dse_tui.engine.errors import BadInput, DSEError, NotFound

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        sys.stderr.write(f"dse: error: {exc}\n")
        return EXIT_BAD
    if args.command is None:
        from dse_tui.app import run_app

        return run_app(home=args.home)
    try:
        return COMMANDS[args.command](args)
    except BadInput as exc:
        return _fail(args, str(exc), EXIT_BAD)
    except NotFound as exc:
        return _fail(args, str(exc), EXIT_NO)
    except DSEError as exc:
        return _fail(args, str(exc), EXIT_NO)
    except KeyboardInterrupt:
        return 130


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    line = " ".join(message.split())  # errors are one line, always
    if args.json:
        _print_json({"error": line})
    sys.stderr.write(f"dse: error: {line}\n")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
