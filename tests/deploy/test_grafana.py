"""The Grafana dashboard (deploy/grafana/helpdesk.json) queries only metrics the code exports, and
deploy/README.md's metrics table lists exactly those metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "helpdesk.json"
CODE = [ROOT / "shared" / "shared", ROOT / "gateway" / "gateway", *sorted((ROOT / "services").glob("*/*"))]

_DEFINITION = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"")
# PromQL words that are not metric names (functions are recognised by the "(" after them)
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
_SUFFIXES = {"Histogram": ("_bucket", "_sum", "_count"), "Summary": ("_sum", "_count")}


def metrics_in_code() -> dict[str, str]:
    """Metric name -> its type, from every prometheus_client definition in the packages."""
    found: dict[str, str] = {}
    for folder in CODE:
        for path in folder.rglob("*.py"):
            if "tests" in path.parts:
                continue
            for kind, name in _DEFINITION.findall(path.read_text()):
                found[name] = kind
    return found


def series_in_code() -> set[str]:
    """Every series name those metrics expose (a histogram's _bucket, _sum and _count)."""
    series = set()
    for name, kind in metrics_in_code().items():
        series.add(name)
        series.update(name + suffix for suffix in _SUFFIXES.get(kind, ()))
    return series


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b\d+(?:\.\d+)?(?:ms|[smhdwy])?\b", "", expr)  # numbers and durations (offset 5m)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)  # label lists
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        word = match.group()
        if word in _KEYWORDS or expr[match.end() :].lstrip().startswith("("):
            continue  # a keyword or a function call
        names.add(word)
    return names


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert exprs, "the dashboard queries nothing"
    return exprs


def test_the_parser_finds_metric_names_and_skips_the_rest() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket"
        '{status=~"5..", job="x"}[5m]))) / on (job) group_left sum(up_total offset 5m)'
    )
    assert metric_names(expr) == {"http_request_duration_seconds_bucket", "up_total"}


def test_every_metric_the_dashboard_queries_exists_in_the_code() -> None:
    known = series_in_code()
    unknown = {(name, expr) for expr in dashboard_exprs() for name in metric_names(expr) if name not in known}
    assert not unknown, f"the dashboard queries metrics no code exports: {sorted(unknown)}"


def test_the_dashboard_shows_every_metric() -> None:
    queried = {name for expr in dashboard_exprs() for name in metric_names(expr)}
    for name, kind in metrics_in_code().items():
        shown = {name, *(name + suffix for suffix in _SUFFIXES.get(kind, ()))}
        assert shown & queried, f"{name} is on no panel of {DASHBOARD.name}"


def test_the_metrics_table_lists_exactly_the_metrics_of_the_code() -> None:
    readme = (ROOT / "deploy" / "README.md").read_text()
    table = set(re.findall(r"^\| `([a-z_:][a-z0-9_:]*)` \|", readme, flags=re.MULTILINE))
    code = metrics_in_code()
    assert table == set(code), f"only in the table: {table - set(code)}; only in the code: {set(code) - table}"
    for name, kind in code.items():
        row = re.search(rf"^\| `{name}` \| (\w+) \|", readme, flags=re.MULTILINE)
        assert row is not None
        assert row.group(1).lower() == kind.lower(), name
