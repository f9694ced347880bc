"""The prompts search encodes with.

A model that declares both a "query" and a "passage" prompt (e5 and its kin, trained for asymmetric
retrieval) gets them by role: queries with "query: ...", the corpus with "passage: ...". Any other model
gets its default prompt (usually none) on both sides. A caller's `prompt_name` / `prompt` replaces the
role's choice. An index records the corpus prompt with its settings, and later additions reuse it.
"""
from __future__ import annotations

from typing import Any

ROLES = ("query", "passage")


def role_kwargs(encoder: Any, role: str, prompt_name: str | None = None, prompt: str | None = None) -> dict:
    """encode() keyword arguments for texts in `role` ("query" or "passage")."""
    if prompt_name is not None or prompt is not None:
        return {"prompt_name": prompt_name, "prompt": prompt}
    prompts = getattr(encoder, "prompts", None)
    if isinstance(prompts, dict) and all(r in prompts for r in ROLES):
        return {"prompt_name": role}
    return {}


def recorded_kwargs(model: dict | None) -> dict | None:
    """encode() keyword arguments that repeat the corpus prompt an index recorded (None: it recorded
    none, an index from before prompts)."""
    settings = (model or {}).get("settings") or {}
    if "prompt" not in settings:
        return None
    if settings.get("prompt_name") is not None:
        return {"prompt_name": settings["prompt_name"]}
    return {"prompt": settings["prompt"] or ""}


def corpus_kwargs(model: dict | None, encoder: Any, prompt_name: str | None = None,
                  prompt: str | None = None) -> dict:
    """The corpus prompt for rows added to an index: the caller's, else the one the index recorded,
    else the passage role's."""
    if prompt_name is not None or prompt is not None:
        return {"prompt_name": prompt_name, "prompt": prompt}
    recorded = recorded_kwargs(model)
    return recorded if recorded is not None else role_kwargs(encoder, "passage")


def settings_with(encoder: Any, kwargs: dict) -> dict:
    """encoder.settings() for texts encoded with `kwargs` ({} for an encoder without settings)."""
    settings = getattr(encoder, "settings", None)
    if not callable(settings):
        return {}
    return settings(**kwargs) if kwargs else settings()
