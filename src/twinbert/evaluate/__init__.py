"""Evaluators: one per task, each a function of (encoder, data, ...) -> metrics dict, metrics as
fractions (0.8203, not 82.03). They all encode through encoder.encode (each unique text once), and
check the data before encoding anything.

  evaluate_sts(encoder, data)          Pearson / Spearman of cosine, euclidean, manhattan, dot
  evaluate_binary(encoder, data, dev=) best accuracy / F1 thresholds, average precision, MCC
  evaluate_triplets(encoder, data)     triplet accuracy (also from NLI pairs)
  evaluate_retrieval(encoder, data)    MRR@10, nDCG@10, MAP@100, recall@k, accuracy@k (exact search)
  pooling_layer_sweep(encoder, data)   STS Spearman(cosine) for every pooling x layer
  classification_report / nli_metrics  accuracy, macro-F1 ... of predicted labels (classifier heads)
  run_eval(model, task, split)         task name -> evaluator -> the JSON result document
"""
from .binary import evaluate_binary
from .classification import accuracy, classification_report, macro_f1, nli_accuracy, nli_metrics
from .retrieval import evaluate_retrieval, retrieval_metrics
from .run import evaluate_dataset, prepare, run_eval, run_sweep
from .sts import evaluate_sts, pearson, spearman
from .sweep import pooling_layer_sweep
from .triplet import evaluate_triplets, nli_triplets

__all__ = [
    "evaluate_sts", "evaluate_binary", "evaluate_triplets", "evaluate_retrieval", "pooling_layer_sweep",
    "evaluate_dataset", "prepare", "run_eval", "run_sweep", "retrieval_metrics", "nli_triplets",
    "accuracy", "macro_f1", "classification_report", "nli_metrics", "nli_accuracy", "pearson", "spearman",
]
