"""`dse` command line. No arguments opens the TUI.

Contract for scripts: every command takes --json; exit 0 on success, 1 when
it ran and the answer is no (spec failed, nothing found, run failed), 2 on bad
input with a one-line error and no traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from dse_tui import __version__
from dse_tui.cli_common import (  # noqa: F401 - shared with cli_living
    PIPE_WIDTH,
    _console,
    _e,
    _hanging,
    _heading,
    _open_engine,
    _print_json,
    _print_listing,
    _table,
    _to_terminal,
    _v,
)

EXIT_OK, EXIT_NO, EXIT_BAD = 0, 1, 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + traceback
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print machine-readable JSON")
    parser.add_argument(
        "--home", default=argparse.SUPPRESS, help="data directory (default: $DSE_HOME or the XDG data dir)"
    )


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
    p.add_argument("--new-version", action="store_true", help="store as the next version of a name that exists")
    p.add_argument("--tags", default="", help="comma-separated tags")
    _common(p)

    p = sub.add_parser(
        "find",
        help="find tested artifacts by meaning",
        description="Search the library by the meaning and the words of its descriptions and code. "
        "Exits 1 when nothing fits: no artifact is close enough to the query (the floor is in "
        "presets/retrieval.yaml).",
    )
    p.add_argument("query")
    p.add_argument("--all", action="store_true", help="also list matches below the no-good-match floor")
    p.add_argument("--min-quality", type=float, default=0.0, metavar="Q")
    p.add_argument("--limit", type=int, default=5, metavar="K")
    p.add_argument("--type", choices=["FUNCTION", "WORKFLOW", "TOOL", "TEST"])
    p.add_argument("--tags", default="", help="comma-separated tags that must all be present")
    _common(p)

    p = sub.add_parser("run", help="run an artifact in the sandbox on JSON keyword arguments")
    p.add_argument("ref", metavar="NAME_OR_ID")
    p.add_argument(
        "--input",
        default="{}",
        help="keyword arguments as a JSON object, e.g. '{\"items\": [3, 1]}', or @FILE to read them from a file",
    )
    _common(p)

    p = sub.add_parser("list", help="list stored artifacts")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--order", choices=["quality", "recent", "name", "usage"], default="name")
    p.add_argument(
        "--quarantined",
        action="store_true",
        help="only artifacts that failed re-verification (kept, never served), with why",
    )
    _common(p)

    p = sub.add_parser("show", help="show one artifact: code, spec, test results, provenance, lineage")
    p.add_argument("ref", metavar="NAME_OR_ID")
    p.add_argument(
        "--code", action="store_true", help="print the code alone, exactly as stored (`dse show --code NAME > f.py`)"
    )
    _common(p)

    p = sub.add_parser("doctor", help="which sandbox, embedder, LLM tiers and store are in use")
    p.add_argument(
        "--check",
        action="store_true",
        help="check the store file; if damaged, copy what is readable into a new file beside it",
    )
    p.add_argument(
        "--replace", action="store_true", help="with --check: put the recovered copy in place of the damaged store"
    )
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

    p = sub.add_parser("jobs", help="background jobs (re-verification, re-embedding, roll-ups); --run runs them")
    p.add_argument("--run", action="store_true", help="run the queued jobs now, showing progress")
    _common(p)

    from dse_tui import cli_living

    cli_living.add_parsers(sub, _common)
    return parser


def _tags(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def cmd_add(args: argparse.Namespace) -> int:
    from dse_tui.engine.errors import SpecFailed

    engine = _open_engine(args)
    try:
        artifact = engine.add_files(
            args.code, args.spec, name=args.name, tags=_tags(args.tags), new_version=args.new_version
        )
    except SpecFailed as exc:
        failures = [c for c in exc.test_results["checks"] if not c["passed"]]
        if args.json:
            _print_json(
                {
                    "stored": False,
                    "error": str(exc).splitlines()[0],
                    "failures": failures,
                    "test_results": exc.test_results,
                }
            )
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
    matches = engine.find_similar(
        args.query, min_quality=args.min_quality, limit=args.limit, type=args.type, tags=_tags(args.tags) or None
    )
    floor = engine.find_floor()
    shown = matches if args.all else [m for m in matches if m.similarity >= floor]
    if args.json:
        _print_json([{**m.to_dict(), "fits": m.similarity >= floor} for m in shown])
    else:
        table = _table("similarity", "quality", "name", "id", "description")
        for m in shown:
            a = m.artifact
            dim = "" if m.similarity >= floor else "[dim]"
            table.add_row(
                f"{dim}{m.similarity:.3f}", f"{a.quality_score:.2f}", _e(a.name), a.id[:12], _e(a.description)
            )
        console = _console()
        if shown:
            _print_listing(console, table)
        if not any(m.similarity >= floor for m in matches):
            closest = f" (closest: {matches[0].artifact.name}, {matches[0].similarity:.2f})" if matches else ""
            console.print(f"nothing in the library fits this query{closest}; the floor is {floor:.2f}", markup=False)
    return EXIT_OK if any(m.similarity >= floor for m in matches) else EXIT_NO


def cmd_run(args: argparse.Namespace) -> int:
    from dse_tui.engine.errors import BadInput
    from dse_tui.engine.validation import load_json

    text = args.input
    if text.startswith("@"):  # --input @file.json: inputs too long for a command line
        try:
            text = open(text[1:], "rb").read().decode("utf-8")
        except OSError as exc:
            raise BadInput(f"--input {text}: cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise BadInput(f"--input {text}: not UTF-8 text (byte {exc.start})") from None
    inputs = load_json(text, "--input")
    if not isinstance(inputs, dict):
        raise BadInput('--input must be a JSON object of keyword arguments, e.g. {"items": [3, 1]}')
    engine = _open_engine(args)
    outcome = engine.run(args.ref, inputs)
    if args.json:
        _print_json(outcome.to_dict())
    else:
        console = _console()
        if outcome.success:
            console.print(_v(outcome.call.repr), markup=False)
            console.print(
                f"[dim]{outcome.call.execution_time_ms:.2f} ms in the function, {outcome.call.wall_ms:.1f} ms sandboxed, {outcome.call.memory_mb:.1f} MB[/]"
            )
        else:
            console.print(f"[red]failed[/]: {_e(outcome.call.error)}")
    return EXIT_OK if outcome.success else EXIT_NO


def cmd_list(args: argparse.Namespace) -> int:
    from dse_tui.engine.errors import BadInput
    from dse_tui.engine.library.find import summary

    if args.limit < 1 or args.offset < 0:
        raise BadInput("--limit must be at least 1 and --offset at least 0")
    from dse_tui.store.records import ArtifactState

    engine = _open_engine(args)
    states = [ArtifactState.QUARANTINED] if args.quarantined else None
    artifacts = engine.list_artifacts(offset=args.offset, limit=args.limit, order=args.order, states=states)
    if args.json:
        _print_json([summary(a) for a in artifacts])
    elif args.quarantined:
        console = _console()
        console.print(f"{engine.count_artifacts(states=states)} quarantined (kept, never served or run)", markup=False)
        for a in artifacts:
            console.print(f"{_v(a.name)} v{a.version}  {a.id[:12]}", markup=False)
            for line in (a.state_reason or "failed re-verification").splitlines()[:5]:
                console.print(f"  {_v(line)}", markup=False)
    else:
        # strength is in `show`; below 100 columns the description needs its room
        wide = not _to_terminal() or _console().width >= 100
        headers = ["name", "quality", *(["strength"] if wide else []), "uses", "state", "id", "description"]
        table = _table(*headers, title=f"{engine.count_artifacts()} artifacts")
        for a in artifacts:
            strength = [f"{a.strength:.2f}" if a.strength is not None else "-"] if wide else []
            table.add_row(
                _e(a.name),
                f"{a.quality_score:.2f}",
                *strength,
                str(a.usage_count),
                a.state.value,
                a.id[:12],
                _e(a.description),
            )
        _print_listing(_console(), table)
    return EXIT_OK if artifacts else EXIT_NO


def cmd_show(args: argparse.Namespace) -> int:
    engine = _open_engine(args)
    artifact = engine.resolve(args.ref)
    if args.code and not args.json:
        # exactly as stored, so that `> f.py` gives the code that passed; a terminal still
        # sees control characters made visible rather than acted on
        code = artifact.content if not _to_terminal() else _v(artifact.content)
        sys.stdout.write(code if code.endswith("\n") else code + "\n")
        return EXIT_OK
    lineage = engine.lineage(artifact.id)
    edges = engine.lineage_edges(artifact.id)
    if args.json:
        _print_json(
            {
                **artifact.to_dict(),
                "lineage": [a.id for a in lineage],
                "edges": [{"child": e.child_id, "parent": e.parent_id, "kind": e.kind.value} for e in edges],
            }
        )
        return EXIT_OK
    from dse_tui.engine.display import merit_text, split_text, strength_text, survivor_lines

    console = _console()
    console.print(f"[bold]{_e(artifact.name)}[/] v{artifact.version}  {artifact.id}")
    console.print(
        f"{artifact.state.value} · quality {artifact.quality_score:.2f} · used {artifact.usage_count}× · "
        f"failed {artifact.failure_count}×",
        markup=False,
    )
    if artifact.state_reason:
        console.print(f"  {_e(artifact.state_reason)}")
    console.print(_v(artifact.description), markup=False)
    _heading(console, "proof")
    results = artifact.test_results
    for line in filter(None, [split_text(results), strength_text(results, artifact.strength)]):
        console.print(line, markup=False)
    for mutant in survivor_lines(results):
        console.print(f"  survived: {_v(mutant)}", markup=False)
    console.print(merit_text(results, artifact.strength, artifact.merit), markup=False)
    for check in results.get("checks", []):
        held = " [dim](held out)[/]" if check.get("held_out") else ""
        console.print(f"  {'[green]✓[/]' if check['passed'] else '[red]✗[/]'} {_e(check['name'])}{held}")
    _heading(console, "code")
    _print_source(console, artifact.content, "python", line_numbers=True)
    _heading(console, "spec")
    _print_source(console, artifact.spec, "yaml")
    _heading(console, "provenance")
    console.print(f"created {artifact.created_at:%Y-%m-%d %H:%M}", markup=False)
    for key, value in sorted(artifact.provenance.items()):
        console.print(f"{_v(key)}: {_v(value)}", markup=False)
    if len(lineage) > 1 or edges:
        _heading(console, "lineage")
    if len(lineage) > 1:
        console.print(" → ".join(f"{_v(a.name)} v{a.version}" for a in lineage), markup=False)
    for edge in edges:
        other, direction = (edge.parent_id, "of") if edge.child_id == artifact.id else (edge.child_id, "by")
        console.print(f"  {edge.kind.value.replace('_', ' ')} {direction} {other[:12]}", markup=False)
    return EXIT_OK


def _print_source(console, text: str, lexer: str, *, line_numbers: bool = False) -> None:
    """Source in full: highlighted and wrapped (never cut) on a terminal, as stored in a pipe."""
    if not _to_terminal():
        console.print(_v(text).rstrip("\n"), markup=False)
        return
    from rich.syntax import Syntax

    console.print(Syntax(_v(text), lexer, theme="ansi_dark", line_numbers=line_numbers, word_wrap=True))


def cmd_doctor(args: argparse.Namespace) -> int:
    from dse_tui.engine import paths
    from dse_tui.engine.doctor import report as doctor_report
    from dse_tui.store.errors import StoreError

    if args.check:
        return _doctor_check(args)
    home = paths.resolve_home(args.home)
    try:
        engine, store_error = _open_engine(args, starter=False), None
    except StoreError as exc:  # doctor still says what works, and how to mend the store
        engine, store_error = None, exc
    report = doctor_report(home, engine, store_error)
    if args.json:
        _print_json(report)
        return EXIT_OK
    console = _console()
    sb = report["sandbox"]
    _hanging(console, "sandbox", sb.get("description") or sb.get("selected") or "", markup=False)
    if sb.get("warning"):
        _hanging(console, "", f"[bold red]WARNING[/] {_e(sb['warning'])}")
    em = report["embedder"]
    _hanging(console, "embedder", f"{em.get('name', em.get('error'))} ({em.get('dim', '?')} dims)", markup=False)
    st = report["store"]
    if st["ok"]:
        size = st.get("size_bytes", 0) / 1e6
        _hanging(console, "store", f"{st['path']} — {st.get('count', '?')} artifacts, {size:.1f} MB", markup=False)
    else:
        _hanging(console, "store", f"[red]{_e(st['error'])}[/]")
    for tier in report["llm"].get("tiers", []):
        state = ("[green]available[/]" if tier["available"] else "[yellow]unavailable[/]") + f": {_e(tier['reason'])}"
        _hanging(console, "llm tier", f"{_e(tier['name']):<11} {_e(tier['provider'])}/{_e(tier['model'])} — {state}")
    if report["llm"].get("error"):
        _hanging(console, "llm", _v(report["llm"]["error"]), markup=False)
    llama = report["llama_cpp"]
    built = " ".join(llama["features"]) or "baseline" if llama["built_by_install"] else llama["note"]
    _hanging(console, "llama.cpp", built, markup=False)
    return EXIT_OK


def _doctor_check(args: argparse.Namespace) -> int:
    """`dse doctor --check`: SQLite's integrity check; a damaged store's readable rows copied
    into a new file beside it, and with --replace put in its place (the damaged file kept)."""
    from dse_tui.engine import paths
    from dse_tui.store import repair

    path = str(paths.store_path(paths.resolve_home(args.home)))
    checked = repair.check(path)
    result: dict[str, Any] = {"path": path, "ok": checked.ok, "problems": checked.problems}
    if not checked.ok and os.path.exists(path):
        recovered = repair.recover(path)
        result.update(recovered=recovered.target, copied=recovered.copied, unreadable=recovered.unreadable)
        if args.replace:
            result["damaged_kept_as"] = repair.replace_with(recovered.target, path)
    if args.json:
        _print_json(result)
        return EXIT_OK if checked.ok else EXIT_NO
    console = _console()
    if checked.ok:
        console.print(f"[green]ok[/]: {_e(path)} passed SQLite's integrity check")
        return EXIT_OK
    console.print(f"[red]damaged[/]: {_e(path)}")
    for problem in checked.problems[:5]:
        console.print(f"  {_e(problem)}")
    if "recovered" in result:
        rows = ", ".join(f"{table} {n}" for table, n in result["copied"].items() if n)
        console.print(f"copied what could be read into {_e(result['recovered'])}: {_e(rows or 'no rows')}")
        for table, why in result["unreadable"].items():
            console.print(f"  [yellow]{_e(table)}[/]: stopped at damage ({_e(why)})")
        if args.replace:
            console.print(
                f"the recovered store is now {_e(path)}; the damaged one is kept as {_e(result['damaged_kept_as'])}"
            )
        else:
            console.print("to use it: [bold]dse doctor --check --replace[/] (the damaged file is kept beside it)")
    return EXIT_NO


def cmd_ask(args: argparse.Namespace) -> int:
    from dse_tui.engine.display import confirmation_text
    from dse_tui.engine.events import AttemptFinished, AttemptStarted, TierSkipped
    from dse_tui.engine.specs.spec import load_spec_file

    spec = load_spec_file(args.spec)
    engine = _open_engine(args)

    def progress(event) -> None:  # attempt-by-attempt progress on stderr; stdout stays JSON
        if isinstance(event, AttemptStarted):
            temp = "" if event.temperature is None else f" at temperature {event.temperature:g}"
            sys.stderr.write(f"attempt {event.n}: {event.tier} ({event.model}){temp}\n")
        elif isinstance(event, AttemptFinished):
            verdict = (
                "passed"
                if event.passed
                else "failed: " + event.failures.splitlines()[0][:160]
                if event.failures
                else "failed"
            )
            sys.stderr.write(f"attempt {event.n}: {verdict} ({event.duration_ms:.0f} ms, ${event.cost_usd:.4f})\n")
        elif isinstance(event, TierSkipped):
            sys.stderr.write(f"tier {event.tier} skipped: {event.reason}\n")

    result = engine.ask(args.task, spec, max_tier=args.max_tier, budget_usd=args.budget, on_event=progress)
    if args.json:
        _print_json(result.to_dict())
        sys.stdout.flush()
        if result.confirmation == "pending":
            engine.confirm_pending()  # after the reply: the strength of this spec against the code served
    else:
        console = _console()
        if result.start_tier:
            from dse_tui.engine.display import prediction_text

            console.print(f"[dim]{_e(prediction_text(result.start_tier, result.prediction))}[/]")
        if result.reused:
            console.print(f"[green]reused[/] {_e(result.artifact.name)} ({result.artifact.id[:12]}), cost $0")
            console.print(confirmation_text(result.confirmation, result.strength), markup=False)
            if result.confirmation == "pending":
                engine.confirm_pending()  # the reply is out: now measure what its pass meant
                known = engine.confirmation(spec.source, result.artifact.id)
                if known is not None:
                    console.print("  " + confirmation_text(known.verdict, known.strength), markup=False)
        elif result.artifact:
            console.print(
                f"[green]generated[/] {_e(result.artifact.name)} ({result.artifact.id[:12]}) on tier {_e(result.tier)} "
                f"in {result.attempts} attempt(s), ${result.cost_usd:.4f}, quality {result.artifact.quality_score:.2f}"
            )
        else:
            console.print(f"[red]{result.outcome}[/]: {_e(result.reason)}")
        console.print(f"[dim]transcript {result.transcript_id}[/]")
        if result.artifact:
            console.print(f"the code: dse show --code {result.artifact.id[:12]}", markup=False)
    return EXIT_OK if result.artifact else EXIT_NO


def cmd_transcripts(args: argparse.Namespace) -> int:
    from dse_tui.engine.errors import NotFound

    engine = _open_engine(args, starter=False)
    if args.id:
        transcript = engine.transcript(args.id)
        if transcript is None:
            from dse_tui.store.transcripts import MIN_PREFIX

            if len(args.id) < MIN_PREFIX:
                raise NotFound(f"no transcript with id '{args.id}' (a prefix needs {MIN_PREFIX} characters or more)")
            several = engine.transcripts.ids_starting(args.id)
            if len(several) > 1:
                raise NotFound(
                    f"'{args.id}' begins {len(several)}{'+' if len(several) == 5 else ''} transcript ids "
                    f"({', '.join(i[:12] for i in several)}); give more characters"
                )
            raise NotFound(f"no transcript with id '{args.id}'")
        if args.json:
            _print_json(transcript.to_dict())
            return EXIT_OK
        console = _console()
        console.print(
            f"[bold]{_e(transcript.task)}[/]  {transcript.outcome}  ${transcript.cost_usd:.4f}  {transcript.id}"
        )
        if transcript.reason:
            console.print(_v(transcript.reason), markup=False)
        for a in transcript.attempt_records:
            _heading(
                console, f"attempt {a.n}: {a.tier} {a.model} T={a.temperature}  {'passed' if a.passed else 'failed'}"
            )
            console.print(_v(a.prompt[-1]["content"]) if a.prompt else "", markup=False)
            console.print("[bold]reply[/]")
            console.print(_v(a.reply or ""), markup=False)
            if a.error:
                console.print(f"[red]{_e(a.error)}[/]")
        return EXIT_OK
    transcripts = engine.list_transcripts(limit=args.limit)
    if args.json:
        _print_json([{k: v for k, v in t.to_dict().items() if k != "attempt_records"} for t in transcripts])
    else:
        table = _table("started", "outcome", "tries", "cost", "id", "task")
        for t in transcripts:
            table.add_row(
                t.started_at[5:16].replace("T", " "),
                t.outcome,
                str(t.attempts),
                f"${t.cost_usd:.4f}",
                t.id[:8],
                _e(t.task.splitlines()[0] if t.task else ""),
            )
        _print_listing(_console(), table, keys=("id", "outcome"))
    return EXIT_OK if transcripts else EXIT_NO


def cmd_models(args: argparse.Namespace) -> int:
    from dse_tui.engine.doctor import tiers_section

    section = tiers_section()
    if "daily_budget_usd" in section:
        section["spent_today_usd"] = round(_open_engine(args, starter=False).spent_today(), 6)
    if args.json:
        _print_json(section)
    else:
        console = _console()
        if section.get("error"):
            console.print(f"[red]{_e(section['error'])}[/]")
        for t in section["tiers"]:
            price = f"${t['price_in_per_mtok']:g}/${t['price_out_per_mtok']:g} per MTok in/out"
            state = ("[green]available[/]" if t["available"] else "[yellow]unavailable[/]") + f": {_e(t['reason'])}"
            _hanging(console, f"{t['name']}", f"{_e(t['provider'])}/{_e(t['model'])}  {price}", width=11)
            _hanging(console, "", state, width=11)
        if section.get("daily_budget_usd") is not None:
            console.print(
                f"daily budget ${section['daily_budget_usd']:g}, spent today ${section.get('spent_today_usd', 0):.4f}"
            )
    return EXIT_NO if section.get("error") else EXIT_OK


def cmd_jobs(args: argparse.Namespace) -> int:
    from dse_tui.engine.events import JobFinished, JobProgress

    engine = _open_engine(args, starter=False)
    if args.run:

        def progress(event) -> None:
            if isinstance(event, JobProgress) and sys.stderr.isatty():
                total = f"/{event.total}" if event.total is not None else ""
                sys.stderr.write(f"\r{event.kind} {event.done}{total} {_v(event.detail)[:60]:<60}")
                sys.stderr.flush()
            elif isinstance(event, JobFinished) and sys.stderr.isatty():
                sys.stderr.write(f"\n{event.kind}: {event.state}{': ' + _v(event.error) if event.error else ''}\n")

        engine.events.subscribe(progress)
        engine.run_jobs()
    jobs = engine.list_jobs()
    if args.json:
        _print_json([j.to_dict() for j in jobs])
        return EXIT_OK
    console = _console()
    if not jobs:
        console.print("no jobs")
    for j in jobs:
        total = f"/{j.total}" if j.total is not None else ""
        console.print(f"{j.id:>4} {j.kind:<8} {j.state:<9} {j.done}{total}" + (f"  {_e(j.error)}" if j.error else ""))
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "jobs": cmd_jobs,
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


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    if name in COMMANDS:
        return COMMANDS[name]
    from dse_tui import cli_living

    return cli_living.COMMANDS[name]


def parse(argv: list[str] | None = None) -> argparse.Namespace | int:
    """The parsed command line, or the exit code of a usage error (already reported)."""
    try:
        return build_parser().parse_args(argv)
    except UsageError as exc:
        from dse_tui.engine.display import visible

        sys.stderr.write(f"dse: error: {visible(str(exc), one_line=True)}\n")
        return EXIT_BAD


def main(argv: list[str] | None = None) -> int:
    """Run a command (the launcher opens the TUI when there is none)."""
    args = parse(argv)
    if isinstance(args, int):
        return args
    return run(args)


def run(args: argparse.Namespace) -> int:
    from dse_tui.engine import shutdown
    from dse_tui.engine.errors import BadInput, DSEError, NotFound

    if args.command is None:  # `dse` alone opens the TUI (dse_tui.launcher); here there is only help
        build_parser().print_help()
        return EXIT_OK
    from dse_tui.store.errors import StoreError

    shutdown.install_cli_handlers()
    try:
        return _command(args.command)(args)
    except BadInput as exc:
        return _fail(args, str(exc), EXIT_BAD)
    except NotFound as exc:
        return _fail(args, str(exc), EXIT_NO)
    except DSEError as exc:
        return _fail(args, str(exc), EXIT_NO)
    except StoreError as exc:  # damaged, full, busy, unreadable: one line that says what to do
        return _fail(args, str(exc), EXIT_NO)
    except OSError as exc:  # outside the store: the sandbox's work dir, the embedder's cache
        return _fail(args, _os_error_text(exc), EXIT_NO)
    except (KeyboardInterrupt, shutdown.Interrupted) as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        shutdown.request(shutdown.signal_text(signum))
        _wait_for_sandboxes()
        sys.stderr.write(f"dse: {shutdown.signal_text(signum)}\n")
        return 128 + signum


def _os_error_text(exc: OSError) -> str:
    import errno

    where = exc.filename or "a temporary file"
    if exc.errno == errno.ENOSPC:
        return f"no space left on the device holding {where}; nothing was stored (free some space and try again)"
    return f"{where}: {exc.strerror or exc}"


def _wait_for_sandboxes(timeout_s: float = 5.0) -> None:
    """Let the threads whose sandboxes were just killed remove their work directories."""
    runner = sys.modules.get("dse_tui.engine.sandbox.runner")
    if runner is not None:
        runner.LIVE.wait_idle(timeout_s)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    """One line per problem (a spec may have several), control characters made visible."""
    from dse_tui.engine.display import visible

    lines = [visible(" ".join(line.split())) for line in message.splitlines() if line.strip()] or ["failed"]
    if args.json:
        _print_json({"error": lines[0], **({"errors": lines} if len(lines) > 1 else {})})
    for line in lines:
        sys.stderr.write(f"dse: error: {line}\n")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
