# SPDX-License-Identifier: GPL-3.0-or-later
"""The README cannot drift from the code: every command, path, flag and option it names exists.

Checked in README.md (and, for links, the pages it links to in docs/):

- ``make T`` names a target of the Makefile, and ``make T VAR=…`` a variable the Makefile sets;
- a path in backticks or a link (``docs/model-card.md``, ``tools/face_from_photo_cli.py``) exists in the
  repository, unless it lies under a folder that .gitignore names (``out/``, ``dist/``: made by a
  command) or it is an output name that the code itself spells (``report.json``);
- a link's ``#anchor`` is a heading of the page it points to;
- ``python -m pkg.mod`` names a module of the project;
- ``--flag`` is an option of the batch command (``cli.py``) or of the script or module named on its line;
- the options table's API keywords are ``ReconstructOptions`` fields or ``api.reconstruct`` keywords,
  and its defaults are theirs.

Everything is read with ``ast`` and regular expressions: nothing here imports bpy or torch.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_README_LINES = 300

# Top-level names of the project's Python code: ``-m`` modules must start with one of these.
PROJECT_PACKAGES = ("core", "training", "operators", "panels", "blender", "tools", "benchmarks", "tests")
# Where an output name the README mentions (``report.json``) must be spelled by the code.
SOURCE_GLOBS = ("*.py", "core/**/*.py", "blender/**/*.py", "operators/**/*.py", "training/**/*.py",
                "tools/**/*.py", "Makefile")
FILE_SUFFIXES = (".py", ".md", ".png", ".json", ".toml", ".txt", ".sh", ".pt", ".zip", ".blend", ".glb",
                 ".obj", ".ply", ".jpg", ".yml", ".yaml", ".cfg", ".sha256")

_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_MAKE = re.compile(r"\bmake\s+([a-z][\w-]*)((?:\s+[A-Z_]+=\S*)*)")
_MODULE = re.compile(r"-m\s+([A-Za-z_][\w.]*)")
_FLAG = re.compile(r"(?<![\w-])(--[a-z][\w.-]*[a-z0-9])")
_SCRIPT = re.compile(r"([\w./-]+\.py)\b")


# ---------------------------------------------------------------------------------------------------------
# What the code defines


def make_targets_and_variables(makefile: Path) -> tuple[set[str], set[str]]:
    """Targets (``name:`` rules and ``.PHONY`` names) and variables (``NAME :=``, ``?=``, ``=``)."""
    targets: set[str] = set()
    variables: set[str] = set()
    for line in makefile.read_text().splitlines():
        if line.startswith("\t") or line.lstrip().startswith("#"):
            continue
        if m := re.match(r"^([A-Za-z_][\w]*)\s*(?::=|\?=|\+=|=)", line):
            variables.add(m.group(1))
        elif m := re.match(r"^\.PHONY\s*:(.*)", line):
            targets.update(m.group(1).split())
        elif m := re.match(r"^([\w.-]+(?:\s+[\w.-]+)*)\s*:(?!=)", line):
            targets.update(m.group(1).split())
    return targets, variables


def argparse_flags(path: Path) -> set[str]:
    """Every ``--option`` string literal passed to an ``add_argument`` call in ``path``."""
    flags: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            for arg in node.args:
                value = arg.value if isinstance(arg, ast.Constant) else None
                if isinstance(value, str) and value.startswith("--"):
                    flags.add(value)
    return flags


def option_defaults(root: Path) -> dict[str, object]:
    """``ReconstructOptions`` fields and ``api.reconstruct`` keywords, each with its default (a literal,
    else None)."""
    options: dict[str, object] = {}
    pipeline = ast.parse((root / "core" / "pipeline.py").read_text())
    for node in ast.walk(pipeline):
        if isinstance(node, ast.ClassDef) and node.name == "ReconstructOptions":
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    options[item.target.id] = _literal(item.value)
    for node in ast.walk(ast.parse((root / "api.py").read_text())):
        if isinstance(node, ast.FunctionDef) and node.name == "reconstruct":
            for arg, default in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True):
                options[arg.arg] = _literal(default)
    return options


def _literal(node: ast.expr | None) -> object:
    try:
        return ast.literal_eval(node) if node is not None else None
    except ValueError:
        return None


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    anchors: set[str] = set()
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (m := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)):
            text = re.sub(r"[^\w\- ]", "", m.group(1).lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


# ---------------------------------------------------------------------------------------------------------
# The check


def _looks_like_path(token: str) -> bool:
    if any(c in token for c in " <>*…|=(){}$,'\"") or "..." in token or token.startswith(("-", "/", "~")):
        return False
    if "://" in token or token.startswith(("#", "//", ".venv/bin/python")):
        return False
    if "/" in token:
        return bool(re.fullmatch(r"[\w.-]+(/[\w.-]+)*/?", token))
    return token == "Makefile" or (token.endswith(FILE_SUFFIXES) and not token.startswith("."))


def _ignored_top_folders(root: Path) -> set[str]:
    gitignore = root / ".gitignore"
    if not gitignore.exists():
        return set()
    return {line.strip().strip("/") for line in gitignore.read_text().splitlines()
            if line.strip().endswith("/") and "*" not in line}


def _spelled_by_code(root: Path, name: str) -> bool:
    """Whether the code spells ``name`` (a bare file or folder name) inside a string: ``"report.json"``."""
    if "/" in name:
        return False
    spelled = re.compile(r"[\"'/]" + re.escape(name) + r"[\"'/]")
    for pattern in SOURCE_GLOBS:
        for path in root.glob(pattern):
            if path.is_file() and spelled.search(path.read_text(errors="replace")):
                return True
    return False


def readme_problems(text: str, root: Path = ROOT, page: Path | None = None) -> list[str]:
    """What the README ``text`` names that does not exist under ``root`` (one sentence each).

    ``page`` is the README's own path (links are relative to its folder); default ``root/README.md``.
    """
    page = page or root / "README.md"
    problems: list[str] = []
    targets, variables = make_targets_and_variables(root / "Makefile")
    ignored = _ignored_top_folders(root)
    cli_flags = argparse_flags(root / "cli.py")

    for m in _MAKE.finditer(text):
        target, assignments = m.group(1), m.group(2)
        if target not in targets:
            problems.append(f"`make {target}`: no such Makefile target")
        for variable in re.findall(r"([A-Z_]+)=", assignments):
            if variable not in variables:
                problems.append(f"`make {target} {variable}=…`: the Makefile sets no {variable}")

    for m in _MODULE.finditer(text):
        module = m.group(1)
        if module.split(".")[0] not in PROJECT_PACKAGES:
            continue
        base = root.joinpath(*module.split("."))
        if not (base.with_suffix(".py").exists() or (base / "__init__.py").exists()):
            problems.append(f"`-m {module}`: no such module")

    for token in _CODE_SPAN.findall(text):
        token = token.strip()
        if not _looks_like_path(token) or (root / token).exists():
            continue
        if token.split("/")[0] in ignored:
            continue  # made by a command (out/, dist/, data/, checkpoints/)
        if _spelled_by_code(root, token.rstrip("/")):
            continue  # an output name the code writes (report.json)
        problems.append(f"`{token}`: no such file or folder in the repository")

    for target in _LINK.findall(text):
        if "://" in target or target.startswith("mailto:"):
            continue
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part) if path_part else page
        if not linked.exists():
            problems.append(f"link ({target}): no such file")
            continue
        if anchor and linked.suffix == ".md" and anchor not in heading_anchors(linked.read_text()):
            problems.append(f"link ({target}): no heading #{anchor} in {linked.name}")

    for line in text.splitlines():
        flags = _FLAG.findall(line)
        if not flags:
            continue
        owners = set(cli_flags)
        for script in _SCRIPT.findall(line):
            if (root / script).exists():
                owners |= argparse_flags(root / script)
        for module in _MODULE.findall(line):
            path = root.joinpath(*module.split(".")).with_suffix(".py")
            if path.exists():
                owners |= argparse_flags(path)
        for flag in flags:
            if flag not in owners:
                problems.append(f"`{flag}`: no such option of the batch command (cli.py) or of the "
                                "script named on its line")

    problems += _options_table_problems(text, root)
    return problems


def _options_table_problems(text: str, root: Path) -> list[str]:
    """The options table's API keywords exist, and its defaults are the code's where the code has one."""
    problems: list[str] = []
    defaults = option_defaults(root)
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if "api keyword" not in header or set(cells) <= {"---", ""} or len(cells) != len(header):
            continue
        keys = _CODE_SPAN.findall(cells[header.index("api keyword")])
        for key in keys:
            if key not in defaults:
                problems.append(f"options table: `{key}` is not an api.reconstruct keyword")
        if "default" not in header:
            continue
        stated = [d.strip().removesuffix(" m") for d in cells[header.index("default")].split(",")]
        if len(stated) != len(keys):
            continue
        for key, value in zip(keys, stated, strict=True):
            actual = defaults.get(key)
            if actual is None or isinstance(actual, bool) or actual == value:
                continue
            if isinstance(actual, int | float):
                try:
                    if float(value) == float(actual):
                        continue
                except ValueError:
                    pass
            problems.append(f"options table: `{key}` defaults to {actual!r} in the code, not {value}")
    return problems


# ---------------------------------------------------------------------------------------------------------
# Tests


def test_the_readme_names_only_what_exists() -> None:
    text = (ROOT / "README.md").read_text()
    problems = readme_problems(text)
    assert not problems, "README.md:\n" + "\n".join(problems)


def test_the_readme_stays_short() -> None:
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; the detail belongs in docs/"


def test_the_readme_names_what_the_checker_reads() -> None:
    # Guards the checker itself: the real README gives it targets, paths, links, flags and the table.
    text = (ROOT / "README.md").read_text()
    assert _MAKE.search(text) and _FLAG.search(text) and _LINK.search(text)
    assert "api keyword" in text.lower()
    assert any(_looks_like_path(t) for t in _CODE_SPAN.findall(text))


def test_the_docs_pages_link_only_to_what_exists() -> None:
    for page in sorted((ROOT / "docs").glob("*.md")):
        problems = [p for p in readme_problems(page.read_text(), ROOT, page) if p.startswith("link")]
        assert not problems, f"{page.name}:\n" + "\n".join(problems)


def test_a_fake_readme_with_missing_things_fails() -> None:
    good = "\n".join([
        "Run `make demo`, then `make export EXPORT_FROM=checkpoints/x`.",
        "See [the card](docs/model-card.md#in-one-screen) and `tools/face_from_photo_cli.py`.",
        "`out/astronaut.glb` and `report.json` are written; `.venv/bin/python -m training.evaluate`.",
        "Unpacked images go to `face_from_photo_images/`.",
        "```sh",
        "blender -b -c face_from_photo reconstruct a.jpg -o out/ --format glb --preview",
        "```",
        "| option | API keyword | default |",
        "|---|---|---|",
        "| λ | `lam` | 0.1 |",
        "| detail | `detail_strength`, `detail_sigma` | 0.001 m, 0.004 m |",
    ])
    assert readme_problems(good) == []
    bad = good + "\n" + "\n".join([
        "`make deploy` and `make export NOPE=1`.",
        "`docs/no-such-page.md`, `core/no_such_module.py`, `summary.json` and [a link](docs/missing.md).",
        "[an anchor](docs/model-card.md#no-such-heading) and `-m training.no_such_module`.",
        "blender -b -c face_from_photo reconstruct a.jpg -o out/ --no-such-flag",
        "",
        "| option | API keyword | default |",
        "|---|---|---|",
        "| λ2 | `lamda` | 0.1 |",
        "| λ3 | `lam` | 0.2 |",
    ])
    problems = readme_problems(bad)
    expected = ["make deploy", "NOPE", "docs/no-such-page.md", "core/no_such_module.py", "summary.json",
                "docs/missing.md",
                "#no-such-heading", "training.no_such_module", "--no-such-flag", "`lamda`",
                "`lam` defaults to 0.1"]
    for needle in expected:
        assert any(needle in p for p in problems), (needle, problems)
    assert len(problems) == len(expected), problems


def test_make_targets_and_variables_are_read_from_the_makefile() -> None:
    targets, variables = make_targets_and_variables(ROOT / "Makefile")
    assert {"setup", "test", "demo", "build", "train", "export", "evaluate"} <= targets
    assert {"PY", "EXPORT_FROM", "TRAIN_DATA"} <= variables
    assert "\t$(PY) -m pytest" not in targets
