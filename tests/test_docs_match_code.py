"""The docs say what the code does, for the four lists that drift first:

(a) docs/design.md's folder table against the repository's top-level folders (every folder holding a file git tracks
    or would track has a row, every row names something that exists; the subfolders of ``localcloud/`` and
    ``functions/`` are named in their rows, and every subfolder a row names exists);
(b) the component type tokens: design.md's "Components" table equals what ``components/`` registers (token and file),
    and every ``iotmr:`` token anywhere in the README or docs/ exists in the code;
(c) docs/policy.md's rule table lists the rules the pack registers, in its order, marks the stack rules, and its count
    is right;
(d) docs/configuration.md's table lists exactly ``components.config.CONFIG_KEYS`` (and ``aws:region``); each
    literal default is what the parser uses when the key is unset, and every ``primary`` key is refused on a
    secondary.

Each check is a function of the docs' text returning its problems, so a test can show it fails on a doc with a row
removed or a fake one added (the ``*_mutations`` tests)."""
from __future__ import annotations

import re
import subprocess
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "design.md"
POLICY_DOC = ROOT / "docs" / "policy.md"
CONFIG_DOC = ROOT / "docs" / "configuration.md"
README = ROOT / "README.md"

#: Folders whose direct subfolders each must be named in the folder's row (the ones a newcomer has to find a way in).
SUBFOLDERS_NAMED = ("localcloud", "functions")
TOKEN = re.compile(r"iotmr:[a-z]+:[A-Z][A-Za-z]*")
COMPONENT = re.compile(r"super\(\)\.__init__\(\s*\"(iotmr:[^\"]+)\"")


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The text under ``heading`` (a whole line, e.g. ``## Folders and owners``) up to the next heading of the same or
    a higher level; empty if there is no such heading."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    if heading not in lines:
        return ""
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines))
                if re.match(rf"#{{1,{level}}} ", lines[i])), len(lines))
    return "\n".join(lines[start:end])


def table(text: str, columns: int = 1) -> list[list[str]]:
    """The first Markdown table in ``text``, without its header and separator: the first ``columns`` cells of each row
    (the last one keeps the rest of the line; no earlier cell may hold a ``|``)."""
    rows, seen = [], False
    for line in text.splitlines():
        if not line.startswith("|"):
            if seen:
                break
            continue
        seen = True
        cells = [c.strip() for c in line.strip().strip("|").split("|", columns)]
        rows.append(cells[:columns])
    return rows[2:]


def names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


# ---- (a) folders ---------------------------------------------------------------------------------------------------

def repository_files() -> list[str]:
    """Every file git tracks or would track (untracked but not ignored), that exists; without git, a walk that leaves
    out what .gitignore's top-level patterns name."""
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                             check=True, timeout=60).stdout.decode()
        return [p for p in out.split("\0") if p and (ROOT / p).is_file()]
    except (OSError, subprocess.SubprocessError):
        patterns = [line.strip().strip("/") for line in read(ROOT / ".gitignore").splitlines()
                    if line.strip() and not line.startswith(("#", "!"))]
        return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()
                and not any(fnmatch(part, pattern) for part in p.relative_to(ROOT).parts for pattern in patterns)
                and ".git" not in p.relative_to(ROOT).parts]


def folders() -> dict[str, set[str]]:
    """Top-level folder -> its direct subfolders that hold files."""
    found: dict[str, set[str]] = {}
    for path in repository_files():
        parts = path.split("/")
        if len(parts) > 1:
            found.setdefault(parts[0], set())
        if len(parts) > 2:
            found[parts[0]].add(parts[1])
    return found


def folder_table_problems(design: str) -> list[str]:
    rows = table(section(design, "## Folders and owners"), columns=2)
    documented = [names(first)[0] if names(first) else first for first, _ in rows]
    problems = [f"row {name!r} appears twice" for name in set(documented) if documented.count(name) > 1]
    real = folders()
    problems += [f"folder {folder}/ has no row in docs/design.md's folder table"
                 for folder in sorted(real) if f"{folder}/" not in documented]
    for name in documented:
        if name.endswith("/") and name.rstrip("/") not in real:
            problems.append(f"the folder table's row {name!r} names no folder of the repository")
        elif not name.endswith("/") and not (ROOT / name).is_file():
            problems.append(f"the folder table's row {name!r} names no file of the repository")
    for (_, what), name in zip(rows, documented, strict=True):
        parent = name.rstrip("/")
        if parent in SUBFOLDERS_NAMED:
            problems += [f"{parent}/{sub}/ is not named in the {name} row"
                         for sub in sorted(real.get(parent, ())) if not re.search(rf"`({parent}/)?{sub}/", what)]
        if name.endswith("/"):
            for sub in re.findall(rf"`(?:{re.escape(parent)}/)?([A-Za-z_.-]+)/`", what):
                if not (ROOT / parent / sub).is_dir() and not (ROOT / sub).is_dir():
                    problems.append(f"the {name} row names {sub}/, which is neither in {name} nor at the top")
    return problems


def test_the_folder_table_lists_every_folder_and_only_real_ones() -> None:
    assert folder_table_problems(read(DESIGN)) == []


def test_the_folder_table_check_fails_on_a_removed_or_fake_row() -> None:
    design = read(DESIGN)
    ops_row = next(line for line in design.splitlines() if line.startswith("| `ops/` |"))
    assert any("ops/ has no row" in p for p in folder_table_problems(design.replace(ops_row + "\n", "")))
    fake = design.replace(ops_row, ops_row + "\n| `gadgets/` | nothing |")
    assert any("gadgets/" in p for p in folder_table_problems(fake))
    lc_row = next(line for line in design.splitlines() if line.startswith("| `localcloud/` |"))
    assert any("localcloud/storm/" in p for p in folder_table_problems(design.replace("`storm/`", "storms")))
    assert any("widgets/" in p for p in folder_table_problems(design.replace(lc_row, lc_row[:-1] + " `widgets/` |")))


# ---- (b) component type tokens ------------------------------------------------------------------------------------

def registered_components() -> dict[str, str]:
    """type token -> file that registers it (``super().__init__("iotmr:...", ...)``)."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "components").glob("*.py")):
        for token in COMPONENT.findall(read(path)):
            assert token not in found, f"{token} registered by {found[token]} and {path.name}"
            found[token] = f"components/{path.name}"
    return found


def component_problems(design: str, docs: dict[str, str]) -> list[str]:
    """``docs``: name -> text of the README and every docs/*.md (design.md's own text is ``design``)."""
    code = registered_components()
    rows = table(section(design, "## Components (type tokens)"), columns=3)
    listed = [(names(token)[0] if names(token) else token, names(file)[0] if names(file) else file)
              for token, file, _ in rows]
    tokens = [t for t, _ in listed]
    problems = [f"{t} is listed twice in design.md's Components table" for t in set(tokens) if tokens.count(t) > 1]
    problems += [f"{t} ({f}) is not in design.md's Components table" for t, f in sorted(code.items())
                 if t not in tokens]
    problems += [f"design.md's Components table lists {t}, which no component registers" for t in tokens
                 if t not in code]
    problems += [f"design.md says {f} registers {t}; it is {code[t]}" for t, f in listed if t in code and code[t] != f]
    for name, text in {"docs/design.md": design, **docs}.items():
        problems += [f"{name} names {t}, which no component registers" for t in sorted(set(TOKEN.findall(text)))
                     if t not in code]
    return problems


def other_docs() -> dict[str, str]:
    texts = {"README.md": read(README)}
    texts.update({f"docs/{p.name}": read(p) for p in sorted((ROOT / "docs").glob("*.md")) if p != DESIGN})
    return texts


def test_the_component_tokens_in_the_docs_are_the_code_s() -> None:
    assert registered_components(), "no component found: has the registration call changed shape?"
    assert component_problems(read(DESIGN), other_docs()) == []


def test_the_component_check_fails_on_a_removed_or_fake_row_or_token() -> None:
    design, docs = read(DESIGN), other_docs()
    row = next(line for line in design.splitlines() if line.startswith("| `iotmr:regional:Pacing` |"))
    assert any("iotmr:regional:Pacing (" in p for p in component_problems(design.replace(row + "\n", ""), docs))
    fake = design.replace(row, row + "\n| `iotmr:regional:Gadget` | `components/gadget.py` | nothing |")
    assert any("Gadget" in p for p in component_problems(fake, docs))
    assert any("Widget" in p for p in component_problems(design, {**docs, "README.md": "`iotmr:regional:Widget`"}))


# ---- (c) the policy pack's rules -----------------------------------------------------------------------------------

def policy_problems(doc: str) -> list[str]:
    from pulumi_policy import StackValidationPolicy

    from policy.pack import build_policies

    policies = build_policies()
    rows = table(section(doc, "### The rules"), columns=2)
    documented = [names(first)[0] for first, _ in rows]
    registered = [p.name for p in policies]
    problems = [f"rule {n} (policy/pack.py) is not in docs/policy.md's table" for n in registered if n not in documented]
    problems += [f"docs/policy.md lists {n}, which the pack does not register" for n in documented if n not in registered]
    if not problems and documented != registered:
        problems.append(f"docs/policy.md lists the rules in another order than policy/pack.py: {registered}")
    stack = {p.name for p in policies if isinstance(p, StackValidationPolicy)}
    problems += [f"docs/policy.md: {name} is {'' if name in stack else 'not '}a stack rule; fix its *(stack)* mark"
                 for (first, _), name in zip(rows, documented, strict=True) if ("*(stack)*" in first) != (name in stack)]
    count = re.search(r"All (\d+) rules", doc)
    if not count or int(count.group(1)) != len(policies):
        problems.append(f"docs/policy.md should say \"All {len(policies)} rules\"")
    return problems


def test_the_policy_doc_lists_the_pack_s_rules() -> None:
    assert policy_problems(read(POLICY_DOC)) == []


def test_the_policy_check_fails_on_a_removed_or_fake_rule() -> None:
    doc = read(POLICY_DOC)
    row = next(line for line in doc.splitlines() if line.startswith("| `sqs-queue-encrypted` |"))
    assert policy_problems(doc.replace(row + "\n", ""))
    assert policy_problems(doc.replace(row, row + "\n| `sqs-queue-fifo` | FIFO | no |"))
    assert policy_problems(doc.replace("| `sqs-queue-encrypted` |", "| `sqs-queue-encrypted` *(stack)* |"))


# ---- (d) configuration keys ----------------------------------------------------------------------------------------

PRIMARY = {"aws:region": "eu-west-1", "regions": ["eu-west-1", "us-west-2"], "domainName": "iot.example.com",
           "hostedZoneId": "Z0123456789ABCDEFGHIJ"}
SECONDARY = {"aws:region": "us-west-2", "primaryStack": "organization/multi-region-iot/eu-west-1"}


def config_problems(doc: str) -> list[str]:
    from components.config import CONFIG_KEYS, REGION_KEY, ConfigError, parse_config

    rows = table(section(doc, "# Configuration reference"), columns=4)
    keyed = [(names(key), stack, default) for key, stack, default, _ in rows]
    documented = [k for keys, _, _ in keyed for k in keys]
    expected = [REGION_KEY, *CONFIG_KEYS]
    problems = [f"{k} is documented twice" for k in sorted(set(documented)) if documented.count(k) > 1]
    problems += [f"config key {k} (components.config.CONFIG_KEYS) is not in docs/configuration.md"
                 for k in expected if k not in documented]
    problems += [f"docs/configuration.md documents {k}, which the program does not read" for k in documented
                 if k not in expected]

    def parse(raw: dict) -> object:
        try:
            return parse_config(raw, ROOT)
        except ConfigError as error:
            return error

    for keys, stack, default in keyed:
        if stack not in ("primary", "secondary", "every"):
            problems.append(f"docs/configuration.md: {keys} has stack {stack!r}; use primary, secondary or every")
        literal = re.fullmatch(r"`([^`]*)`", default)
        for key in (k for k in keys if k != REGION_KEY):
            if literal:  # the documented default is what an unset key gives, on a stack the key belongs to
                base = SECONDARY if stack == "secondary" else PRIMARY
                if parse({**base, key: literal.group(1)}) != parse(base):
                    problems.append(f"docs/configuration.md: {key}'s default is not {literal.group(1)}")
            if stack == "primary":
                refused = parse({**SECONDARY, key: "x"})
                if not (isinstance(refused, ConfigError) and key in str(refused) and "secondary" in str(refused)):
                    problems.append(f"docs/configuration.md: {key} is a primary key but a secondary accepts it")
    return problems


def test_the_configuration_reference_is_the_parser_s() -> None:
    assert config_problems(read(CONFIG_DOC)) == []


def test_the_configuration_check_fails_on_a_removed_fake_or_wrong_row() -> None:
    doc = read(CONFIG_DOC)
    row = next(line for line in doc.splitlines() if line.startswith("| `logRetentionDays` |"))
    assert any("logRetentionDays" in p for p in config_problems(doc.replace(row + "\n", "")))
    assert any("colour" in p for p in config_problems(doc.replace(row, row + "\n| `colour` | every | `blue` | x |")))
    assert any("default" in p for p in config_problems(doc.replace(row, row.replace("`30`", "`14`"))))
    routing = next(line for line in doc.splitlines() if line.startswith("| `routingPolicy` |"))
    wrong = doc.replace(routing, routing.replace("| primary |", "| every |")).replace("| `logRetentionDays` | every |",
                                                                                    "| `logRetentionDays` | primary |")
    assert any("logRetentionDays is a primary key" in p for p in config_problems(wrong))


@pytest.mark.parametrize("path", [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "CHANGELOG.md"],
                         ids=lambda p: p.name)
def test_relative_links_in_the_docs_point_at_files_that_exist(path: Path) -> None:
    """A link ``[..](some/file.md#anchor)`` names a file of the repository (anchors are not checked)."""
    broken = [target for target in re.findall(r"\]\(([^)\s]+)\)", read(path))
              if not re.match(r"[a-z]+:", target) and not target.startswith("#")
              and not (path.parent / target.split("#", 1)[0]).exists()]
    assert broken == []
