"""Bad input for `twinbert recipe`: an output folder that is not a recipe run, bad settings."""
from __future__ import annotations

from pathlib import Path

from bad_input.cases import Case


def build(root: Path, tiny: Path) -> None:
    r = root / "recipe"
    r.mkdir()
    (r / "mine").mkdir()
    (r / "mine" / "thesis.tex").write_text("chapter 1", encoding="utf-8")
    (r / "damaged").mkdir()
    (r / "damaged" / "recipe.json").write_text('{"recipe": {"seed": 4', encoding="utf-8")  # cut mid-write


def _record_kept(root: Path) -> None:
    assert (root / "recipe" / "damaged" / "recipe.json").read_text(encoding="utf-8") == '{"recipe": {"seed": 4'


def _untouched(root: Path) -> None:
    assert [p.name for p in (root / "recipe" / "mine").iterdir()] == ["thesis.tex"]
    assert (root / "recipe" / "mine" / "thesis.tex").read_text(encoding="utf-8") == "chapter 1"


CASES = [
    Case("recipe-user-folder", "recipe output is a folder of the user's files",
         ("recipe", "korean", "--output", "{root}/recipe/mine", "--base", "{tiny}"), 2,
         "is not a recipe run (no recipe.json); a recipe starts in a new or empty folder, and --overwrite only restarts", _untouched),
    Case("recipe-unknown-sts-loss", "recipe with an STS loss it cannot use",
         ("recipe", "korean", "--output", "{root}/recipe/new", "--sts-losses", "cosent,mnrl"), 2,
         "sts loss 'mnrl': expected cosent or cosine"),
    Case("recipe-resume-damaged-record", "recipe --resume over a damaged recipe.json",
         ("recipe", "korean", "--output", "{root}/recipe/damaged", "--resume"), 2,
         "recipe.json: is damaged, not readable JSON", _record_kept),
    Case("recipe-english-nli-no-split", "recipe --english-nli without a split",
         ("recipe", "korean", "--output", "{root}/recipe/new", "--english-nli", "snli"), 2,
         "'snli': expected task:split, e.g. snli:dev"),
]
