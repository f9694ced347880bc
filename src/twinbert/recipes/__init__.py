"""Recipes: multi-stage training runs that build a model from the data at hand (`twinbert recipe NAME`)."""
from __future__ import annotations

from .korean import KoreanRecipe, run_korean_recipe

RECIPES = {"korean": "a Korean sentence encoder from multilingual-e5-small (NLI, then STS, chosen by KorSTS dev)"}

__all__ = ["KoreanRecipe", "run_korean_recipe", "RECIPES"]
