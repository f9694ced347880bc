"""Each loss against a hand computation on tiny vectors."""
from __future__ import annotations

import math

import pytest
import torch

from twinbert.errors import InputError
from twinbert.losses import (
    ContrastiveLoss,
    CoSENTLoss,
    CosineSimilarityLoss,
    MatryoshkaLoss,
    MSELoss,
    MultipleNegativesRankingLoss,
    SoftmaxLoss,
    TripletLoss,
    build_loss,
)

T = lambda *rows: torch.tensor(rows, dtype=torch.float32)  # noqa: E731


def test_cosine_similarity_loss():
    u, v = T([1, 0], [1, 1]), T([0, 1], [1, 1])
    # cos = 0 and 1; gold 0.5 and 0.8 -> ((0-0.5)^2 + (1-0.8)^2) / 2
    assert CosineSimilarityLoss()([u, v], T(0.5, 0.8)).item() == pytest.approx((0.25 + 0.04) / 2)


def test_triplet_loss_euclidean_margin_one():
    a, p, n = T([0, 0], [0, 0]), T([3, 4], [1, 0]), T([0, 1], [0, 5])
    # row 1: 5 - 1 + 1 = 5; row 2: 1 - 5 + 1 < 0 -> 0
    assert TripletLoss()([a, p, n]).item() == pytest.approx(2.5)
    # manhattan: row 1: 7 - 1 + 1 = 7; row 2: 0
    assert TripletLoss(distance="manhattan")([a, p, n]).item() == pytest.approx(3.5)


def test_triplet_loss_cosine_distance():
    a, p, n = T([1, 0]), T([0, 1]), T([1, 0])
    # d(a,p) = 1, d(a,n) = 0, margin 0.5 -> 1.5
    assert TripletLoss(margin=0.5, distance="cosine")([a, p, n]).item() == pytest.approx(1.5)


def test_softmax_loss_uses_u_v_absdiff():
    loss = SoftmaxLoss(dimension=2, num_labels=3)
    assert loss.classifier.weight.shape == (3, 6)
    with torch.no_grad():
        loss.classifier.weight.zero_()
        loss.classifier.bias.zero_()
        loss.classifier.weight[1, 4] = 1.0  # label 1 logit = |u0 - v0|
    u, v = T([3, 0]), T([1, 0])
    logits = torch.tensor([0.0, 2.0, 0.0])
    expected = -torch.log_softmax(logits, 0)[1].item()
    assert loss([u, v], torch.tensor([1])).item() == pytest.approx(expected)
    assert SoftmaxLoss(2, 3, concat_product=True).classifier.weight.shape == (3, 8)


def test_multiple_negatives_ranking_by_hand():
    a, p = T([1, 0], [0, 1]), T([1, 0], [1, 1])
    scale = 20.0  # s[i][j] = scale * cos(a_i, p_j)
    s = [[scale * c for c in row] for row in [[1.0, 1 / math.sqrt(2)], [0.0, 1 / math.sqrt(2)]]]
    row0 = -(s[0][0] - math.log(math.exp(s[0][0]) + math.exp(s[0][1])))
    row1 = -(s[1][1] - math.log(math.exp(s[1][0]) + math.exp(s[1][1])))
    assert MultipleNegativesRankingLoss()([a, p]).item() == pytest.approx((row0 + row1) / 2, rel=1e-5)
    # a hard negative equal to the positive: each row's denominator gains exp(s_ii)
    hard = MultipleNegativesRankingLoss()([T([1, 0]), T([1, 0]), T([1, 0])]).item()
    assert hard == pytest.approx(math.log(2), rel=1e-5)


def test_cosent_by_hand():
    u, v = T([1, 0], [1, 0]), T([1, 0], [0, 1])  # cos 1 and 0
    labels = T(0.2, 0.9)  # the second pair should be more similar: penalty exp(20 * (1 - 0))
    expected = math.log(1 + math.exp(20.0))
    assert CoSENTLoss()([u, v], labels).item() == pytest.approx(expected, rel=1e-5)
    # correct order -> log(1 + exp(20 * (0 - 1)))
    assert CoSENTLoss()([u, v], T(0.9, 0.2)).item() == pytest.approx(math.log(1 + math.exp(-20.0)), abs=1e-7)


def test_contrastive_by_hand():
    u, v = T([1, 0], [1, 0]), T([0, 1], [1, 0])  # cosine distance 1 and 0
    # row 1 label 1: 0.5 * 1^2; row 2 label 0: 0.5 * max(0.5 - 0, 0)^2
    assert ContrastiveLoss()([u, v], T(1, 0)).item() == pytest.approx((0.5 + 0.125) / 2)


def test_mse_distillation_multilingual_form():
    teacher = T([1, 1])
    src, trans = T([1, 0]), T([0, 0])
    # mean((0,1)^2)=0.5 ; mean((1,1)^2)=1 -> average 0.75
    assert MSELoss()([src, trans], teacher).item() == pytest.approx(0.75)


def test_matryoshka_sums_prefix_losses():
    u, v = T([1, 0, 0, 1]), T([1, 0, 1, 0])
    base = CosineSimilarityLoss()
    full = base([u, v], T(1.0)).item()
    half = base([u[:, :2], v[:, :2]], T(1.0)).item()
    assert MatryoshkaLoss(base, [4, 2])([u, v], T(1.0)).item() == pytest.approx(full + half)
    with pytest.raises(InputError, match="cannot be wrapped"):
        MatryoshkaLoss(SoftmaxLoss(4, 3), [2])


def test_build_loss_errors():
    with pytest.raises(InputError, match="unknown; expected one of"):
        build_loss("hinge", dimension=4)
    with pytest.raises(InputError, match="larger than the embedding dimension 4"):
        build_loss("cosine", dimension=4, matryoshka=[8, 4])
    with pytest.raises(InputError, match="unknown triplet distance"):
        build_loss("triplet", dimension=4, distance="hamming")
