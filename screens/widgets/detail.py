"""The detail pane: one artifact's code, spec, latest test results, usage and lineage.

Everything is rendered as rich Text/Syntax objects, never markup, because
names, messages and code come from users and models and may contain "[...]".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from dse_tui.engine.display import merit_text, split_text, strength_text, survivor_lines, visible
from dse_tui.engine.specs.strength import STRONG_AT
from dse_tui.screens.widgets.glyphs import g

if TYPE_CHECKING:
    from rich.syntax import Syntax

    from dse_tui.store.records import Artifact, LineageEdge, MetricPoint

# ANSI colours read on the Linux console and follow the user's terminal palette.
CODE_THEME = "ansi_dark"


def quality_breakdown(results: dict[str, Any], quality: float) -> Text:
    """quality = 0.4·pass + 0.3·coverage + 0.2·performance + 0.1·robustness, with the measured parts
    (the paper's formula; coverage is what the candidate's own process reported)."""
    parts = [
        ("0.4·pass", results.get("pass_rate", 0.0)),
        ("0.3·coverage (reported)", results.get("coverage", 0.0)),
        ("0.2·performance", results.get("performance_score", 0.0)),
        ("0.1·robustness", results.get("robustness_score", 0.0)),
    ]
    text = Text.assemble(("quality ", "bold"), (f"{quality:.2f}", "bold"), " = ")
    text.append(" + ".join(f"{label} {value:.2f}" for label, value in parts))
    return text


def verdict_text(artifact: Artifact) -> Text:
    """What the pass means: visible and held-out results apart, spec strength, merit."""
    results = artifact.test_results
    text = Text()
    split = split_text(results)
    if split:
        text.append(split + "\n")
    share = artifact.strength
    text.append(strength_text(results, share), style="bold" if share is not None and share >= STRONG_AT else "yellow")
    for mutant in survivor_lines(results):
        text.append(f"\n    survived: {visible(mutant, one_line=True)}", style="dim")
    text.append("\n" + merit_text(results, share, artifact.merit))
    return text


def checks_text(results: dict[str, Any]) -> Text:
    text = Text()
    for check in results.get("checks", []):
        ok = check.get("passed")
        text.append(g("✓ " if ok else "✗ "), style="green" if ok else "bold red")
        text.append(visible(check.get("name", "?"), one_line=True))
        if check.get("probe"):
            text.append(" (edge case)", style="dim")
        if check.get("held_out"):
            text.append(" (held out)", style="dim")
        if check.get("message"):
            text.append(f"\n    {visible(check['message'])}", style="dim" if ok else "red")
        text.append("\n")
    if results.get("error"):
        text.append(f"error: {visible(results['error'])}\n", style="red")
    if not text:
        text.append("no recorded checks", style="dim")
    text.rstrip()
    return text


def usage_text(artifact: Artifact) -> Text:
    last = artifact.last_used.strftime("%Y-%m-%d %H:%M UTC") if artifact.last_used else "never"
    return Text(
        f"used {artifact.usage_count}× · avg {artifact.avg_execution_time_ms:.2f} ms · last used {last}"
    )


def history_text(artifact: Artifact, lineage: Iterable[Artifact], metrics: Iterable[MetricPoint],
                 edges: Iterable[LineageEdge] = ()) -> Text:
    versions = list(lineage)
    text = Text()
    if len(versions) > 1:
        chain = g(" → ").join(visible(a.name, one_line=True) + f" v{a.version}" + (" (this)" if a.id == artifact.id else "")
                           for a in versions)
        text.append(f"lineage: {chain}\n")
    else:
        text.append(f"lineage: v{artifact.version}, no ancestors\n")
    for edge in edges:
        if edge.child_id == artifact.id:
            text.append(f"{edge.kind.value.replace('_', ' ')} {edge.parent_id[:8]}\n")
        else:
            text.append(f"{edge.child_id[:8]} is {edge.kind.value.replace('_', ' ')} this\n", style="dim")
    if artifact.state.value != "verified":
        text.append(f"state: {artifact.state.value}" + (f" ({visible(artifact.state_reason, one_line=True)})"
                                                       if artifact.state_reason else "") + "\n",
                    style="bold red" if artifact.state.value == "quarantined" else "yellow")
    source = artifact.provenance.get("source") if artifact.provenance else None
    if source:
        text.append(f"from: {source}\n")
    points = list(metrics)
    if points:
        ok = sum(p.success for p in points)
        latest = points[-1].function_ms if points[-1].function_ms is not None else points[-1].run_ms
        text.append(f"recent runs: {len(points)} ({ok} ok)" + (f", latest {latest:.2f} ms" if latest is not None else ""))
    else:
        text.append("recent runs: none")
    return text


class ArtifactDetail(VerticalScroll):
    """Read-only view of the highlighted artifact; focusable so it can be scrolled by keys."""

    SECTIONS = ("checks", "code", "spec", "history")  # what jump keys 1-4 go to

    def jump(self, section: str) -> None:
        """Scroll so that `section` starts at the top of the pane."""
        self.scroll_to_widget(self.query_one(f"#section-{section}"), top=True, animate=False)

    def compose(self) -> ComposeResult:
        yield Static(id="detail-title", markup=False)
        yield Static(id="detail-description", markup=False)
        yield Static(id="detail-quality", markup=False)
        yield Static(id="detail-verdict", markup=False)
        yield Static(id="detail-usage", markup=False)
        yield Static("Checks", classes="section-title", id="section-checks")
        yield Static(id="detail-checks", markup=False)
        yield Static("Code", classes="section-title", id="section-code")
        yield Static(id="detail-code")
        yield Static("Spec", classes="section-title", id="section-spec")
        yield Static(id="detail-spec")
        yield Static("History", classes="section-title", id="section-history")
        yield Static(id="detail-history", markup=False)

    def on_mount(self) -> None:
        self.show_empty("no artifact selected")

    artifact_id: str | None = None
    shown: Artifact | None = None  # the record on display, to skip re-rendering the same one

    def show_empty(self, message: str) -> None:
        self.artifact_id = self.shown = None
        self._set("#detail-title", Text(message, style="dim"))
        for part in ("description", "quality", "verdict", "usage", "checks", "code", "spec", "history"):
            self._set(f"#detail-{part}", "")
        self.set_class(True, "-empty")

    def show_artifact(self, artifact: Artifact) -> None:
        """Render what the artifact record carries; history comes later from the store."""
        if artifact.id != self.artifact_id:
            self.scroll_home(animate=False)
        self.artifact_id, self.shown = artifact.id, artifact
        self.set_class(False, "-empty")
        title = Text.assemble(
            (visible(artifact.name, one_line=True), "bold"), f" v{artifact.version} · {artifact.type.value} · {artifact.id[:8]}"
        )
        if artifact.tags:
            title.append(" · " + visible(", ".join(artifact.tags), one_line=True), style="dim")
        self._set("#detail-title", title)
        self._set("#detail-description", Text(visible(artifact.description)))
        self._set("#detail-quality", quality_breakdown(artifact.test_results, artifact.quality_score))
        self._set("#detail-verdict", verdict_text(artifact))
        self._set("#detail-checks", checks_text(artifact.test_results))
        self._set("#detail-code", self._syntax(artifact.content, "python", line_numbers=True))
        self._set("#detail-spec", self._syntax(artifact.spec, "yaml"))
        self.show_usage(artifact)
        self._set("#detail-history", Text("loading history…", style="dim"))

    def show_usage(self, artifact: Artifact) -> None:
        self._set("#detail-usage", usage_text(artifact))

    def show_history(self, artifact: Artifact, lineage: Iterable[Artifact], metrics: Iterable[MetricPoint],
                     edges: Iterable[LineageEdge] = ()) -> None:
        if artifact.id == self.artifact_id:
            self._set("#detail-history", history_text(artifact, lineage, metrics, edges))

    @staticmethod
    def _syntax(code: str, lexer: str, line_numbers: bool = False) -> Syntax:
        from rich.syntax import Syntax  # pygments is imported on first use, not before the first frame

        return Syntax(
            visible(code.rstrip("\n")),  # stored code may hold raw control characters
            lexer,
            theme=CODE_THEME,
            line_numbers=line_numbers,
            word_wrap=True,
            background_color="default",
        )

    def _set(self, selector: str, renderable: Any) -> None:
        self.query_one(selector, Static).update(renderable)
