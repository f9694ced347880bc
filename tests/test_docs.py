"""The docs cannot drift from the code: every signature they show equals the real one, the layout they list is
the real one, every link between pages resolves and every code block carries a tag the suite knows.

Conventions (docs/README-like pages: README.md and docs/*.md):
- a signature is shown in a fenced block tagged ```signature, one entry per call, written with its full import
  path and without `self` or annotations: `twinbert.search.Index.build(texts=None, ..., *, model_name=None)`;
  an entry may span lines. Parameter names, order, kinds and defaults are compared with inspect.signature.
- the folders are listed in a block tagged ```layout (docs/layout.md): `src/twinbert/` and `tests/` headings, one
  entry a line, indented two spaces.
- ```python and ```bash blocks run in the suite (tests/test_docs_examples.py); ```python norun / ```bash norun
  are shown only (a server, a cluster, minutes of work) and are few; ```text holds output, formulas, diagrams.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```", flags=re.S | re.M)
TAGS = {"python", "bash", "python norun", "bash norun", "text", "signature", "layout"}
# what a reader looks up first: each must be shown in a signature block somewhere in the docs
MAIN_ENTRY_POINTS = {
    "twinbert.load", "twinbert.SentenceEncoder.encode", "twinbert.SentenceEncoder.save", "twinbert.similarity",
    "twinbert.semantic_search", "twinbert.paraphrase_mining",
    "twinbert.search.Index.build", "twinbert.search.Index.search", "twinbert.search.Index.tune_fusion",
    "twinbert.train.train_sentence_encoder", "twinbert.train.TrainSpec", "twinbert.train.TrainConfig",
    "twinbert.evaluate.run_eval", "twinbert.bert.CrossEncoder.load", "twinbert.serve.load_served",
    "twinbert.serve.ServeConfig", "twinbert.serve.build_app", "twinbert.distributed.encode_files",
    "twinbert.SentenceEncoder.apply_prompt", "twinbert.export.export_model",
}
# a line that runs something: it belongs in a python or bash block (run by the suite), not in a text block
# (an error message quoted as output, "twinbert fill-mask: error: ...", is no command)
COMMAND = re.compile(r"^\s*(\$ |twinbert [\w-]+(?![\w:-])|curl |import |from twinbert|python |pip |make )")


def blocks(page: Path) -> list[tuple[str, str]]:
    """(tag, body) of every fenced block of a page, in order."""
    return [(tag.strip(), body) for tag, body in FENCE.findall(page.read_text(encoding="utf-8"))]


def rel(page: Path) -> str:
    return str(page.relative_to(REPO))


# ---- signatures ------------------------------------------------------------------------------------------------

def signature_entries(body: str) -> list[str]:
    """The entries of a signature block: each starts at column 0 and runs until its brackets close."""
    entries, current, depth = [], [], 0
    for line in body.splitlines():
        if not line.strip() and not current:
            continue
        current.append(line.strip())
        depth += line.count("(") - line.count(")")
        if depth == 0:
            entries.append(" ".join(current).replace("( ", "(").replace(" )", ")"))
            current = []
    assert not current, f"unclosed signature: {' '.join(current)}"
    return entries


def parse_entry(entry: str) -> tuple[str, ast.arguments]:
    """`twinbert.x.f(a, b=1, *, c=None)` -> ("twinbert.x.f", its parameters as an ast.arguments)."""
    match = re.fullmatch(r"(twinbert(?:\.\w+)+)\((.*)\)", entry, flags=re.S)
    assert match, f"not a signature (expected twinbert.PATH(PARAMS)): {entry}"
    function = ast.parse(f"def _({match.group(2)}): pass").body[0]
    return match.group(1), function.args


def resolve(path: str):
    """The object a dotted path names, as `from a.b import c` finds it: an attribute first (so that
    twinbert.bert.features is the function the package exports, not its module), else a submodule."""
    parts = path.split(".")
    target = importlib.import_module(parts[0])
    for i, name in enumerate(parts[1:], start=2):
        try:
            target = getattr(target, name)
        except AttributeError:
            target = importlib.import_module(".".join(parts[:i]))  # ModuleNotFoundError names a wrong path
    return target


def documented_parameters(args: ast.arguments) -> list[tuple[str, str, object]]:
    """(name, kind, default) of each parameter written in the docs; annotations are not allowed (unchecked)."""
    kinds = [(a, "POSITIONAL_ONLY") for a in args.posonlyargs] + [(a, "POSITIONAL_OR_KEYWORD") for a in args.args]
    defaults = [inspect.Parameter.empty] * (len(kinds) - len(args.defaults)) + list(args.defaults)
    rows = [(a, kind, d) for (a, kind), d in zip(kinds, defaults)]
    if args.vararg:
        rows.append((args.vararg, "VAR_POSITIONAL", inspect.Parameter.empty))
    rows += [(a, "KEYWORD_ONLY", inspect.Parameter.empty if d is None else d)
             for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    if args.kwarg:
        rows.append((args.kwarg, "VAR_KEYWORD", inspect.Parameter.empty))
    out = []
    for arg, kind, default in rows:
        assert arg.annotation is None, f"parameter {arg.arg}: annotations are not compared, leave them out"
        value = default if default is inspect.Parameter.empty else ast.literal_eval(default)
        out.append((arg.arg, kind, value))
    return out


def real_parameters(target) -> list[tuple[str, str, object]]:
    """(name, kind, default) of the real callable; a method looked up on its class loses `self`."""
    params = list(inspect.signature(target).parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    return [(p.name, p.kind.name, p.default) for p in params]


def drift(entry: str) -> list[str]:
    """What differs between a documented signature and the real one (empty: they agree)."""
    path, args = parse_entry(entry)
    shown, real = documented_parameters(args), real_parameters(resolve(path))
    problems = []
    if [p[0] for p in shown] != [p[0] for p in real]:
        problems.append(f"parameters {[p[0] for p in shown]}, real {[p[0] for p in real]}")
    for (name, kind, default), (_, real_kind, real_default) in zip(shown, real):
        if kind != real_kind:
            problems.append(f"{name}: kind {kind}, real {real_kind}")
        if type(default) is not type(real_default) or default != real_default:
            problems.append(f"{name}: default {default!r}, real {real_default!r}")
    return [f"{path}: {p}" for p in problems]


def all_entries() -> list[tuple[str, str]]:
    return [(rel(page), entry) for page in PAGES for tag, body in blocks(page) if tag == "signature"
            for entry in signature_entries(body)]


@pytest.mark.parametrize("page,entry", all_entries(), ids=lambda v: v if "/" in v or v.endswith(".md") else
                         v.split("(")[0])
def test_signature_matches_the_code(page, entry):
    problems = drift(entry)
    assert not problems, f"{page}: the signature shown is stale:\n" + "\n".join(problems)


def test_the_main_entry_points_are_shown():
    shown = {parse_entry(entry)[0] for _, entry in all_entries()}
    assert not MAIN_ENTRY_POINTS - shown, f"no signature block shows {sorted(MAIN_ENTRY_POINTS - shown)}"


def test_a_stale_signature_is_caught():
    """The checker itself: a missing, renamed, reordered or re-kinded parameter, or a changed default, is drift."""
    real = "twinbert.similarity(a, b=None, metric='cosine', *, pairwise=False)"
    assert drift(real) == []
    for stale in ["twinbert.similarity(a, b=None, metric='cosine')",            # a parameter missing
                  "twinbert.similarity(a, b=None, metric='dot', *, pairwise=False)",  # another default
                  "twinbert.similarity(a, b=None, *, metric='cosine', pairwise=False)",  # another kind
                  "twinbert.similarity(b=None, a=None, metric='cosine', *, pairwise=False)",  # reordered
                  "twinbert.similarity(a, b=0, metric='cosine', *, pairwise=False)",  # None vs 0
                  "twinbert.similarity(a, b=None, metric='cosine', *, pairwise=0)"]:  # False vs 0
        assert drift(stale), stale
    with pytest.raises(AssertionError, match="annotations"):
        drift("twinbert.similarity(a: int, b=None, metric='cosine', *, pairwise=False)")
    assert signature_entries("twinbert.load(a,\n    b=1)\n\ntwinbert.x(c)\n") == ["twinbert.load(a, b=1)",
                                                                                "twinbert.x(c)"]


def test_commands_are_told_from_output():
    assert COMMAND.match("twinbert fill-mask all-MiniLM-L6-v2 'a [MASK].'") and COMMAND.match("$ ls")
    assert not COMMAND.match("twinbert fill-mask: error: model x has no masked-LM head")


def inline_signatures(text: str) -> list[str]:
    """Inline code spans that are signatures (a parameter list with a bare `*`): they belong in a block."""
    found = []
    for span in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", text):
        match = re.fullmatch(r"[\w.]+\((.*\*.*)\)", span)
        if not match:
            continue
        try:
            ast.parse(f"def _({match.group(1)}): pass")
        except SyntaxError:
            continue
        found.append(span)
    return found


def test_signatures_live_in_signature_blocks():
    assert inline_signatures("see `f(a, *, b=1)` and `encode(..., chunking='late')` or `g(x=1)`") == ["f(a, *, b=1)"]
    stray = {rel(page): inline_signatures(FENCE.sub("", page.read_text(encoding="utf-8"))) for page in PAGES}
    stray = {page: spans for page, spans in stray.items() if spans}
    assert not stray, f"signatures written inline are not checked; put them in a ```signature block: {stray}"


# ---- fences, links ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_block_has_a_known_tag(page):
    unknown = [tag for tag, _ in blocks(page) if tag not in TAGS]
    assert not unknown, f"{rel(page)}: blocks tagged {unknown}; the tags are {sorted(TAGS)}"
    commands = [line for tag, body in blocks(page) if tag == "text" for line in body.splitlines()
                if COMMAND.match(line)]
    assert not commands, f"{rel(page)}: commands in a ```text block are never run; use ```bash: {commands}"


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_links_resolve(page):
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists() or (anchor and file.suffix == ".md" and anchor not in anchors(file)):
            broken.append(target)
    assert not broken, f"{rel(page)}: links to nothing: {broken}"


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", page.read_text(encoding="utf-8")), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_docs_page_is_linked_from_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    unlinked = [rel(p) for p in PAGES[1:] if f"({rel(p)})" not in readme and f"({rel(p)}#" not in readme]
    assert not unlinked, f"README.md links no page {unlinked}"


# ---- layout ----------------------------------------------------------------------------------------------------

def layout_entries() -> dict[str, set[str]]:
    """{heading: names listed under it} of the ```layout block of docs/layout.md."""
    (body,) = [body for tag, body in blocks(REPO / "docs" / "layout.md") if tag == "layout"]
    listed: dict[str, set[str]] = {}
    heading = None
    for line in body.splitlines():
        if line and not line[0].isspace():
            heading = line.split()[0]
            listed[heading] = set()
        elif re.match(r"  \S", line) and heading:
            listed[heading].add(line.split()[0])
    return listed


def real_entries(folder: Path, *, modules: bool) -> set[str]:
    """The sub-folders (and, with modules, the .py files) of a folder, as the layout names them."""
    names = {p.name + "/" for p in folder.iterdir() if p.is_dir() and p.name != "__pycache__"}
    if modules:
        names |= {p.name for p in folder.glob("*.py")}
    return names


def test_the_layout_lists_the_real_folders():
    listed = layout_entries()
    assert listed["src/twinbert/"] == real_entries(REPO / "src" / "twinbert", modules=True)
    assert {n for n in listed["tests/"] if n.endswith("/")} == real_entries(REPO / "tests", modules=False)
