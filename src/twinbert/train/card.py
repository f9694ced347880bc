"""The model card: README.md in a training output folder (data, losses, settings, metrics, usage)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

from .loop import TrainResult
from .settings import TrainConfig

LOG_NOTE = "Training log: `train_log.jsonl`; learning curve: `learning_curve.png`."


def _metrics_table(before: dict | None, best: dict, final: dict) -> list[str]:
    keys = list(best or final)
    if not keys:
        return ["No evaluation data was given."]
    lines = ["| metric | before training | best | last evaluation |", "|---|---:|---:|---:|"]
    fmt = lambda d, k: f"{d[k]:.4f}" if d and isinstance(d.get(k), (int, float)) else "-"  # noqa: E731
    lines += [f"| {k} | {fmt(before, k)} | {fmt(best, k)} | {fmt(final, k)} |" for k in keys]
    return lines


def data_files(records: list[dict]) -> list[str]:
    """The card section naming every data file the run read (training and evaluation): its path, the
    sha256 of its bytes and the rows used (with the sha256 of their content, which tells a limit or a
    column choice apart). Records come from twinbert.train.checkpoint.data_record."""
    lines = ["## Data files", "", "| use | data | file | file sha256 | rows used | rows sha256 |",
             "|---|---|---|---|---:|---|"]
    for r in records:
        file = f"`{r['path']}`" if r.get("path") else "(given in memory)"
        lines.append(f"| {r.get('role', '-')} | {r.get('name', '-')} | {file} | {r.get('sha256') or '-'} | "
                     f"{r.get('rows', '-')} | {str(r.get('content_sha256') or '-')[:16]} |")
    return lines + [""]


def settings_and_results(config: TrainConfig, result: TrainResult, evals: list[str], main_metric: str | None,
                         before: dict | None) -> list[str]:
    """The card sections every trained model shares: hyper-parameters, metrics before/best/last (numbers
    only), steps and speed, and any warning the run raised."""
    numbers = lambda d: {k: v for k, v in (d or {}).items() if isinstance(v, (int, float))}  # noqa: E731
    lines = ["## Hyper-parameters", "", "```json", json.dumps(dataclasses.asdict(config), indent=2), "```", "",
             "## Results", ""]
    if evals:
        lines.append(f"Evaluated on {', '.join(evals)}; main metric `{main_metric}`. "
                     + (f"The model in this folder is the best evaluation (step {result.best_step})."
                        if result.best_step is not None else ""))
        lines.append("")
    lines += _metrics_table(numbers(before), numbers(result.best_metrics), numbers(result.final_metrics))
    early = "; stopped early (patience)" if result.stopped_early else ""
    total = f" of {result.total_steps}" if result.total_steps is not None else ""
    speed = f"{result.seconds:.0f} s, {result.examples_per_s:.1f} examples/s"
    if result.resumed_at is not None:  # time and speed are this process's; the steps before ran earlier
        lines += ["", f"Steps: {result.steps}{total} ({result.epochs_done} epochs){early}. Resumed at step "
                  f"{result.resumed_at}{total}; ran {result.steps_run} steps in this run ({speed}). "
                  "Scores before training are not measured again by a resumed run.", ""]
    else:
        lines += ["", f"Steps: {result.steps}{total} ({result.epochs_done} epochs); {speed}{early}", ""]
    for warning in result.warnings:
        lines += [f"> Warning: {warning}", ""]
    return lines


def model_card(encoder, datasets: list[dict], config: TrainConfig, result: TrainResult, *, evals: list[str],
               main_metric: str | None, before: dict | None, started: dt.datetime, eval_data: list[dict] = ()) -> str:
    """README.md of a trained sentence encoder: base model, data and losses, settings, metrics, usage."""
    settings = encoder.settings()
    lines = [
        f"# {result.output.name}: a sentence encoder fine-tuned with twinbert",
        "",
        f"Base model: `{settings['model']}`. Pooling: {settings['pooling']}; "
        f"dimension {settings['dimension']}; max_seq_length {settings['max_seq_length']}; "
        f"normalized: {settings['normalize']}.",
        "",
        "## Training data and losses",
        "",
        "| data | rows | loss | options | file sha256 |",
        "|---|---:|---|---|---|",
    ]
    for d in datasets:
        opts = ", ".join(f"{k}={v}" for k, v in d["options"].items()) or "defaults"
        lines.append(f"| {d['data']['name']} | {d['rows']} | {d['loss']} ({d['loss_class']}) | {opts} | "
                     f"{(d['data'].get('sha256') or '-')[:16]} |")
    lines += ["", *data_files([d["data"] for d in datasets] + list(eval_data))]
    lines += settings_and_results(config, result, evals, main_metric, before)
    lines += _usage(["import twinbert", "", f"model = twinbert.load({str(result.output)!r})",
                     "vectors = model.encode([\"A man is playing a guitar.\", \"Someone plays an instrument.\"])"],
                    "The folder is in the sentence-transformers format (also readable by sentence-transformers and "
                    "text-embeddings-inference). " + LOG_NOTE, started)
    return "\n".join(lines)


def head_card(*, title: str, summary: str, data: list[dict], config: TrainConfig, result: TrainResult,
              evals: list[str], main_metric: str | None, before: dict | None, started: dt.datetime,
              usage: list[str]) -> str:
    """README.md of a trained BERT head (classifier, cross-encoder, masked LM): what it is, the data
    (data_record records, training and evaluation), the settings, the metrics, how to use it."""
    lines = [f"# {result.output.name}: {title}", "", summary, "", *data_files(data)]
    lines += settings_and_results(config, result, evals, main_metric, before)
    return "\n".join(lines + _usage(usage, LOG_NOTE, started))


def _usage(code: list[str], note: str, started: dt.datetime) -> list[str]:
    from .. import __version__

    return ["## Usage", "", "```python", *code, "```", "", note, "",
            f"Trained with twinbert {__version__}, started {started.isoformat(timespec='seconds')}.", ""]
