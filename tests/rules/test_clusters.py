"""The neutral cluster helpers on array_api_strict arrays (no torch)."""

import array_api_strict as xp
import numpy as np
import pytest

from eigengrad._rules import _clusters as rc


def as_list(x):
    return np.asarray(x).tolist()


def test_labels_join_gaps_at_most_tol():
    w = xp.asarray([[1.0, 1.0, 2.0, 2.0 + 1e-15, 3.0], [0.0, 1.0, 2.0, 3.0, 4.0]])
    labels = rc.cluster_labels(w, xp.asarray([[1e-14], [1e-14]]))
    assert as_list(labels) == [[0, 0, 1, 1, 2], [0, 1, 2, 3, 4]]


def test_zero_tolerance_still_joins_exact_ties():
    w = xp.asarray([0.0, 0.0, 0.0])
    tol = rc.cluster_tolerance(w, 1e-14, 0.0)
    assert float(tol[0]) == 0.0
    assert as_list(rc.cluster_labels(w, tol)) == [0, 0, 0]


def test_empty_and_single():
    assert rc.cluster_labels(xp.zeros((2, 0)), xp.zeros((2, 1))).shape == (2, 0)
    assert as_list(rc.cluster_labels(xp.asarray([5.0]), xp.asarray([0.0]))) == [0]
    assert rc.cluster_tolerance(xp.zeros((3, 0)), 1.0, 0.0).shape == (3, 1)


def test_tolerance_is_scale_aware():
    w = xp.asarray([-4.0, 1.0, 2.0])
    assert float(rc.cluster_tolerance(w, 0.5, 0.25)[0]) == pytest.approx(0.25 + 0.5 * 4.0)


def test_same_cluster_mean_and_multiple():
    labels = xp.asarray([0, 0, 1, 2, 2, 2])
    same = rc.same_cluster(labels)
    M = rc.cluster_mean_matrix(same, xp.float64)
    g = xp.asarray([1.0, 3.0, 5.0, 0.0, 3.0, 6.0])
    assert as_list(M @ g) == [2.0, 2.0, 5.0, 3.0, 3.0, 3.0]
    # M is the orthogonal projector onto cluster-constant vectors
    assert xp.all(xp.abs(M @ M - M) < 1e-15)
    assert as_list(rc.is_multiple(same)) == [True, True, False, True, True, True]


def test_default_rtol_grows_like_sqrt_n():
    eps = 2.0**-52
    assert rc.default_rtol(100, eps) == pytest.approx(10 * rc.default_rtol(1, eps))
    assert rc.default_rtol(0, eps) == rc.default_rtol(1, eps)
