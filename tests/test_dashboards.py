"""The Grafana dashboards the chart ships (``charts/spectrus/dashboards/*.json``): their
structure, and that every query names only metrics a Spectrus process really exports.

A dashboard query that names a metric nobody exports shows "No data" forever and fails no
build, so the names are checked against the truth: ``spectrus api``, ``gateway`` and
``media`` are started as Kubernetes runs them, scraped at ``GET /metrics``, and each
PromQL vector selector is checked against the scrape of the process it selects. Which
process that is comes from the selector's own labels, the ones Prometheus Operator attaches
to the chart's targets: ``app_kubernetes_io_component`` (``="api"``, or ``=~"api|gateway"``)
for a community's processes, ``job="spectrus-operator"`` for the operator. Every selector
must say: ``process_cpu_seconds_total`` alone would match every process in the Prometheus.
Operator selectors are checked in ``tests/kube/test_operator.py``, which runs the operator
against a real kube-apiserver and loads this module's checker by path (test files cannot
import each other under ``--import-mode=importlib``).

The metric names come from a small PromQL lexer (``selectors``), not a regex over the
text: function and aggregation names, keywords, label names in ``{}`` and ``by (...)``,
strings, durations and numbers are not metric names. It raises on what it does not know
(an unknown function is more likely a typo than a new PromQL function), and it is tested
on tricky expressions and seen to fail on a metric nobody exports.

Conventions for adding a panel: the next free ``id``; ``gridPos`` 12 wide and 8 high, in
the first free half-row (``x`` 0 or 12); the datasource ``${datasource}``; selectors with
the component (and ``spectrus_io_community=~"$community"``) or the operator's job; the file
kept as ``json.dumps(dashboard, indent=2, ensure_ascii=False)`` writes it.
"""

from __future__ import annotations

import copy
import json
import re
import ssl
from collections.abc import Iterator, Mapping, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from spectrus_gateway.client import GatewayClient

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "charts" / "spectrus" / "dashboards"
UIDS = {
    "overview.json": "spectrus-overview",
    "api.json": "spectrus-api",
    "gateway.json": "spectrus-gateway",
    "voice.json": "spectrus-voice",
    "operator.json": "spectrus-operator",
}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
COMPONENT = "app_kubernetes_io_component"
OPERATOR_JOB = "spectrus-operator"
COMMUNITY_PROCESSES = frozenset({"api", "gateway", "media"})
PROCESSES = COMMUNITY_PROCESSES | {"operator"}
# Series Prometheus itself writes for every target it scrapes; no process exports them.
SYNTHETIC = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
GRID_WIDTH = 24

# -- PromQL ----------------------------------------------------------------------------

AGGREGATIONS = frozenset(
    {
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    }
)
FUNCTIONS = frozenset(
    {
        "abs",
        "absent",
        "absent_over_time",
        "acos",
        "acosh",
        "asin",
        "asinh",
        "atan",
        "atanh",
        "avg_over_time",
        "ceil",
        "changes",
        "clamp",
        "clamp_max",
        "clamp_min",
        "cos",
        "cosh",
        "count_over_time",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "days_in_month",
        "deg",
        "delta",
        "deriv",
        "double_exponential_smoothing",
        "end",
        "exp",
        "floor",
        "histogram_avg",
        "histogram_count",
        "histogram_fraction",
        "histogram_quantile",
        "histogram_stddev",
        "histogram_stdvar",
        "histogram_sum",
        "holt_winters",
        "hour",
        "idelta",
        "increase",
        "info",
        "irate",
        "label_join",
        "label_replace",
        "last_over_time",
        "ln",
        "log10",
        "log2",
        "mad_over_time",
        "max_over_time",
        "min_over_time",
        "minute",
        "month",
        "pi",
        "predict_linear",
        "present_over_time",
        "quantile_over_time",
        "rad",
        "rate",
        "resets",
        "round",
        "scalar",
        "sgn",
        "sin",
        "sinh",
        "sort",
        "sort_by_label",
        "sort_by_label_desc",
        "sort_desc",
        "sqrt",
        "start",
        "stddev_over_time",
        "stdvar_over_time",
        "sum_over_time",
        "tan",
        "tanh",
        "time",
        "timestamp",
        "vector",
        "year",
    }
)
# Keywords followed by a parenthesised list of label names (group_left/right: optional).
LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"})
MATCH_OPS = frozenset({"=", "!=", "=~", "!~"})

_TOKEN = re.compile(
    r"""
      (?P<space>\s+|\#[^\n]*)
    | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    | (?P<variable>\$\{[^}]*\}|\$\w+)
    | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[a-zA-Z0-9_]*)
    | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
    | (?P<op>==|!=|>=|<=|=~|!~|[-+*/%^=<>@(){}\[\],])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # string | variable | number | ident | op
    text: str


@dataclass(frozen=True)
class Selector:
    """One vector selector: its metric name and label matchers (label, op, value)."""

    metric: str
    matchers: tuple[tuple[str, str, str], ...] = ()


def tokenize(expr: str) -> list[Token]:
    """PromQL tokens (Grafana's ``$variables`` included), without spaces and comments."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None:
            raise ValueError(f"cannot read PromQL at {expr[pos:]!r} in {expr!r}")
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append(Token(kind, match.group()))
        pos = match.end()
    return tokens


def _balanced(tokens: list[Token], expr: str) -> None:
    pairs = {"(": ")", "[": "]", "{": "}"}
    expected: list[str] = []
    for token in tokens:
        if token.kind != "op":
            continue
        if token.text in pairs:
            expected.append(pairs[token.text])
        elif token.text in pairs.values() and (not expected or expected.pop() != token.text):
            raise ValueError(f"unbalanced {token.text!r} in {expr!r}")
    if expected:
        raise ValueError(f"unclosed bracket in {expr!r}")


def _closing(tokens: list[Token], start: int) -> int:
    """The index of the bracket closing the one at ``start``."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    opening = tokens[start].text
    depth = 0
    for i in range(start, len(tokens)):
        if tokens[i].kind != "op":
            continue
        if tokens[i].text == opening:
            depth += 1
        elif tokens[i].text == pairs[opening]:
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unclosed {opening!r}")


def _unquote(token: Token) -> str:
    if token.kind != "string":
        raise ValueError(f"expected a string, got {token.text!r}")
    if token.text.startswith("`"):
        return token.text[1:-1]
    return re.sub(r"\\(.)", r"\1", token.text[1:-1])


def _matchers(tokens: list[Token]) -> tuple[tuple[str, str, str], ...]:
    """``label op "value"`` items of a ``{...}`` (without its braces)."""
    out: list[tuple[str, str, str]] = []
    i = 0
    while i < len(tokens):
        if i + 2 >= len(tokens) or tokens[i].kind != "ident" or tokens[i + 1].text not in MATCH_OPS:
            raise ValueError(f"cannot read label matchers {' '.join(t.text for t in tokens)!r}")
        out.append((tokens[i].text, tokens[i + 1].text, _unquote(tokens[i + 2])))
        i += 3
        if i < len(tokens):
            if tokens[i].text != ",":
                raise ValueError(f"expected ',' in label matchers, got {tokens[i].text!r}")
            i += 1
    return tuple(out)


def selectors(expr: str) -> list[Selector]:
    """Every vector selector of a PromQL expression, in order."""
    tokens = tokenize(expr)
    _balanced(tokens, expr)
    found: list[Selector] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        following = tokens[i + 1].text if i + 1 < len(tokens) else ""
        if token.kind == "op" and token.text == "[":
            i = _closing(tokens, i) + 1  # a range or subquery: durations and variables
        elif token.kind == "op" and token.text == "{":
            end = _closing(tokens, i)
            matchers = _matchers(tokens[i + 1 : end])
            names = [v for label, op, v in matchers if label == "__name__" and op == "="]
            if len(names) != 1:
                raise ValueError(f"a selector without one metric name in {expr!r}")
            found.append(Selector(names[0], tuple(m for m in matchers if m[0] != "__name__")))
            i = end + 1
        elif token.kind == "ident":
            word = token.text.lower()  # keywords and aggregations are case-insensitive
            if word in LABEL_LISTS:
                i = _closing(tokens, i + 1) + 1 if following == "(" else i + 1
            elif word in KEYWORDS or word in AGGREGATIONS:
                i += 1
            elif following == "(":
                if token.text not in FUNCTIONS:
                    raise ValueError(f"unknown PromQL function {token.text!r} in {expr!r}")
                i += 1
            elif following == "{":
                end = _closing(tokens, i + 1)
                found.append(Selector(token.text, _matchers(tokens[i + 2 : end])))
                i = end + 1
            else:
                found.append(Selector(token.text))
                i += 1
        else:
            i += 1  # strings, numbers, durations, variables, operators
    return found


def metric_names(expr: str) -> set[str]:
    return {s.metric for s in selectors(expr)}


def scope(selector: Selector) -> frozenset[str]:
    """The processes a selector can match, from the labels Prometheus Operator puts on the
    chart's targets (empty: it does not say)."""
    components = [(op, v) for label, op, v in selector.matchers if label == COMPONENT]
    jobs = [(op, v) for label, op, v in selector.matchers if label == "job"]
    if components:
        ((op, value),) = components
        if op == "=":
            return frozenset({value})
        if op == "=~" and re.fullmatch(r"\w+(\|\w+)*", value):
            return frozenset(value.split("|"))
        raise ValueError(f"cannot tell the processes of {COMPONENT}{op}{value!r}")
    if ("=", OPERATOR_JOB) in jobs:
        return frozenset({"operator"})
    return frozenset()


# -- dashboards ------------------------------------------------------------------------


def load(name: str) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads((DASHBOARDS / name).read_text())
    return dashboard


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def variable_expr(query: str) -> str | None:
    """The PromQL in a Prometheus template variable's query, if it has any."""
    query = query.strip()
    if match := re.fullmatch(r"label_values\((.*),\s*\w+\s*\)", query, re.DOTALL):
        return match[1]
    if match := re.fullmatch(r"query_result\((.*)\)", query, re.DOTALL):
        return match[1]
    if re.fullmatch(r"(label_values\(\s*\w+\s*\)|label_names\(.*\)|metrics\(.*\))", query):
        return None
    raise ValueError(f"unknown variable query {query!r}")


def queries(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and query variable."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield f"panel {panel['id']} {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            if (expr := variable_expr(text)) is not None:
                yield f"variable {variable['name']}", expr


def unexported(dashboard: Mapping[str, Any], exported: Mapping[str, Set[str]]) -> list[str]:
    """What is wrong with the dashboard's metric names: a selector that does not say which
    processes it selects, names an unknown one, or names a metric one of them does not
    export (``exported``: sample names by process). Processes missing from ``exported``
    are checked elsewhere."""
    problems: list[str] = []
    for where, expr in queries(dashboard):
        for selector in selectors(expr):
            at = f"{dashboard['uid']} {where}: {selector.metric}"
            processes = scope(selector)
            if not processes:
                problems.append(f"{at} names no process ({COMPONENT} or job={OPERATOR_JOB!r})")
            for process in sorted(processes - PROCESSES):
                problems.append(f"{at}: no process is called {process!r}")
            for process in sorted(processes & exported.keys()):
                if selector.metric not in SYNTHETIC and selector.metric not in exported[process]:
                    problems.append(f"{at} is not exported by {process}")
    return problems


def names_by_process(dashboard: Mapping[str, Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for _, expr in queries(dashboard):
        for selector in selectors(expr):
            for process in scope(selector):
                out.setdefault(process, set()).add(selector.metric)
    return out


def sample_names(exposition: str) -> set[str]:
    """Every sample name (``x_total``, ``x_bucket``...) in a text exposition."""
    return {s.name for f in text_string_to_metric_families(exposition) for s in f.samples}


def scrape(url: str, **kwargs: Any) -> set[str]:
    r = httpx.get(url, timeout=10, **kwargs)
    assert r.status_code == 200, r.text
    return sample_names(r.text)


# -- the extractor ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'histogram_quantile(0.99, sum by (le, route) (rate(spectrus_x_bucket{route!~"/by|on",'
            ' status=~"5.."}[$__rate_interval])))',
            {"spectrus_x_bucket"},
        ),
        (
            "sum(rate(a_total[5m] offset 1h)) / ignoring (reason) group_left sum without"
            " (pod) (b) > bool 0.5",
            {"a_total", "b"},
        ),
        ("a * on (pod) group_left (node) b unless c or d and e", {"a", "b", "c", "d", "e"}),
        ('label_replace(up{job="x"}, "fake_total", "$1", "src", "(.*)")', {"up"}),
        ('{__name__="via_name_total", pod="p"} + 1e3 - Inf * NaN', {"via_name_total"}),
        ("max_over_time(sub_total[1h:5m]) @ end() + 0x1F", {"sub_total"}),
        ('topk($limit, sum by (pod) (x{c=~"${community:regex}"}))  # rate(y[5m])', {"x"}),
        ("SUM BY (le) (recorded:rate5m) + time()", {"recorded:rate5m"}),
        ("count_values(`value`, build_info) > 0", {"build_info"}),
        ("vector(1) + scalar(sum(rate(z_total[$__interval])))", {"z_total"}),
    ],
)
def test_selectors_find_metric_names_only(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_selectors_read_matchers() -> None:
    (selector,) = selectors(
        'rate(x_total{app_kubernetes_io_component=~"api|gateway", s="a\\"b", t!=``}[5m])'
    )
    assert selector == Selector(
        "x_total",
        (("app_kubernetes_io_component", "=~", "api|gateway"), ("s", "=", 'a"b'), ("t", "!=", "")),
    )
    assert scope(selector) == {"api", "gateway"}
    assert scope(Selector("up", (("job", "=", OPERATOR_JOB),))) == {"operator"}
    assert scope(Selector("up", (("job", "=~", ".*"),))) == frozenset()
    with pytest.raises(ValueError, match="cannot tell"):
        scope(Selector("x", ((COMPONENT, "!=", "api"),)))


@pytest.mark.parametrize(
    "expr",
    ["rat(x_total[5m])", 'x{pod="a"', "sum(x", '{pod="a"}', "x{pod}", "x ~ y"],
)
def test_selectors_refuse_what_they_cannot_read(expr: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (each has its own message)
        selectors(expr)


def test_variable_queries() -> None:
    assert variable_expr('label_values(up{job="a"}, spectrus_io_community)') == 'up{job="a"}'
    assert variable_expr("label_values(namespace)") is None
    assert variable_expr("query_result(sum(x))") == "sum(x)"
    with pytest.raises(ValueError, match="unknown variable query"):
        variable_expr("something(else)")


def test_the_check_fails_on_a_metric_nobody_exports() -> None:
    """The check on made-up scrapes: a real name passes, a misspelt or unscoped one fails."""
    dashboard = copy.deepcopy(load("api.json"))
    exported = {p: set(n) for p, n in names_by_process(dashboard).items()}
    assert unexported(dashboard, exported) == []
    first = dashboard["panels"][0]
    first["targets"].append(
        {
            "refId": "Z",
            "datasource": DATASOURCE,
            "expr": 'sum(rate(spectrus_nonexistent_total{app_kubernetes_io_component="api"}[5m]))'
            " / sum(rate(process_cpu_seconds_total[5m]))",
        }
    )
    problems = unexported(dashboard, exported)
    assert len(problems) == 2, problems
    assert "spectrus_nonexistent_total is not exported by api" in problems[0]
    assert "process_cpu_seconds_total names no process" in problems[1]


# -- structure -------------------------------------------------------------------------


def test_the_chart_has_the_five_dashboards_with_fixed_uids() -> None:
    assert sorted(p.name for p in DASHBOARDS.glob("*.json")) == sorted(UIDS)
    for name, uid in UIDS.items():
        assert load(name)["uid"] == uid
    assert len({load(name)["title"] for name in UIDS}) == len(UIDS)


@pytest.mark.parametrize("name", sorted(UIDS))
def test_dashboard_structure(name: str) -> None:
    text = (DASHBOARDS / name).read_text()
    dashboard = json.loads(text)
    assert text == json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n", (
        "keep the file as json.dumps(dashboard, indent=2, ensure_ascii=False) writes it"
    )
    assert dashboard["schemaVersion"] == 39
    assert "spectrus" in dashboard["tags"]
    assert "id" not in dashboard or dashboard["id"] is None  # Grafana assigns ids

    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE, variable["name"]
    if "community" in variables:
        assert variables["community"]["includeAll"] and variables["community"]["allValue"] == ".*"

    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), f"panel ids repeat: {ids}"
    cells: dict[tuple[int, int], int] = {}
    for panel in panels(dashboard):
        assert panel["title"] and panel.get("description"), panel["id"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= GRID_WIDTH
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"panels {cells[x, y]} and {panel['id']} overlap"
                cells[x, y] = panel["id"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["id"]
        assert panel["targets"], panel["id"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["id"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, (panel["id"], target["refId"])
            if "community" in variables and scope_of(target["expr"]) & COMMUNITY_PROCESSES:
                assert '$community"' in target["expr"], (panel["id"], target["refId"])


def scope_of(expr: str) -> frozenset[str]:
    return frozenset().union(*(scope(s) for s in selectors(expr)))


def test_every_selector_says_which_process_it_reads() -> None:
    for name in UIDS:
        dashboard = load(name)
        assert unexported(dashboard, {}) == []
        assert names_by_process(dashboard), name
    # The operator dashboard reads only the operator (whose scrape tests/kube checks).
    assert set(names_by_process(load("operator.json"))) == {"operator"}


def test_links_between_dashboards() -> None:
    uids = set(UIDS.values())
    linked: set[str] = set()
    for name in UIDS:
        dashboard = load(name)
        assert any(
            link["type"] == "dashboards" and link["tags"] == ["spectrus"]
            for link in dashboard["links"]
        ), name
        for panel in panels(dashboard):
            for link in panel.get("links", []):
                match = re.match(r"/d/([\w-]+)\?", link["url"])
                assert match and match[1] in uids, link
                linked.add(match[1])
    assert linked == uids - {"spectrus-overview"}  # the overview links to every other


# -- against the processes -------------------------------------------------------------


@pytest.mark.slow
async def test_dashboards_name_only_metrics_the_processes_export(instance: Any) -> None:
    started = instance()
    api, gateway, media = started.api, started.gateway, started.media

    # Some work, so that labelled series (requests by route and status) have samples.
    async with httpx.AsyncClient(base_url=f"{api.base}/api/v10", timeout=30) as http:
        register = {"username": "grafana", "password": "correct horse battery"}
        token = (await http.post("/auth/register", json=register)).json()["token"]
        client = GatewayClient(gateway.ws, token)
        await client.identify()
        await client.close()

    ca = media.data_dir / "voice" / "ca.crt"
    exported = {
        "api": scrape(f"{api.base}/metrics"),
        "gateway": scrape(f"{gateway.base}/metrics"),
        "media": scrape(
            f"https://127.0.0.1:{media.voice_port}/metrics",
            verify=ssl.create_default_context(cafile=str(ca)),
        ),
    }
    for name in sorted(UIDS):
        dashboard = load(name)
        assert unexported(dashboard, exported) == [], name
        print(name, {p: sorted(n) for p, n in sorted(names_by_process(dashboard).items())})

    # The same check with the real scrapes fails on a name nobody exports.
    dashboard = load("overview.json")
    dashboard["panels"][-1]["targets"][0]["expr"] += (
        ' + sum(spectrus_nonexistent_total{app_kubernetes_io_component="gateway"})'
    )
    (problem,) = unexported(dashboard, exported)
    assert problem.endswith("spectrus_nonexistent_total is not exported by gateway")
