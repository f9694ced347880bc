"""Evaluators: one per task, each a function of (encoder, data, ...) -> metrics dict, metrics as
fractions (0.8203, not 82.03). Each checks the data before encoding anything, then encodes through
encoder.encode (each unique text once); classification_report and nli_metrics score labels that a
classifier head predicted.

  evaluate_sts(encoder, data)          Pearson / Spearman of cosine, euclidean, manhattan, dot
  evaluate_binary(encoder, data, dev=) best accuracy / F1 thresholds, average precision, MCC
  evaluate_triplets(encoder, data)     triplet accuracy (also from NLI pairs)
  evaluate_retrieval(encoder, data)    MRR@10, nDCG@10, MAP@100, recall@k, accuracy@k (exact search, or
                                       index="hnsw" / "ivf" to measure an approximate index)
  evaluate_nli_head(encoder, head, data, labels)  NLI accuracy through a trained softmax classifier
  classification_report / nli_metrics  accuracy, macro-F1 ... of predicted labels (classifier heads)
  pooling_layer_sweep(encoder, data)   a table: STS Spearman(cosine) for every pooling x layer

and the job that ties a task to its evaluator (twinbert.evaluate.run):

  prepare(task, split)                 the task's data (twinbert.data.spec) read and checked, its evaluator
  evaluate_dataset(encoder, dataset)   the evaluator of the dataset's kind, run
  run_eval / run_sweep(model, task)    task -> evaluator -> the JSON result document
"""
from __future__ import annotations

from .binary import evaluate_binary
from .classification import accuracy, classification_report, macro_f1, nli_accuracy, nli_metrics
from .nli_head import evaluate_nli_head
from .retrieval import evaluate_retrieval, retrieval_metrics
from .run import evaluate_dataset, prepare, run_eval, run_sweep
from .sts import evaluate_sts, pearson, spearman
from .sweep import pooling_layer_sweep
from .triplet import evaluate_triplets, nli_triplets

__all__ = [
    "evaluate_sts", "evaluate_binary", "evaluate_triplets", "evaluate_retrieval", "evaluate_nli_head",
    "pooling_layer_sweep",
    "evaluate_dataset", "prepare", "run_eval", "run_sweep", "retrieval_metrics", "nli_triplets",
    "accuracy", "macro_f1", "classification_report", "nli_metrics", "nli_accuracy", "pearson", "spearman",
]
