"""bioprop.analysis.alignment: cosines and angles between learning signals."""
import numpy as np
import pytest

from bioprop.models.alignment import (angle_degrees, cosine, feedback_angles, layer_angles, layer_cosines,
                                     mean_row_angle)


def test_known_angles():
    e1, e2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert angle_degrees(e1, e2) == pytest.approx(90.0)
    assert angle_degrees(e1, 3 * e1) == pytest.approx(0.0)
    assert angle_degrees(e1, -e1) == pytest.approx(180.0)
    assert angle_degrees(e1, e1 + e2) == pytest.approx(45.0)
    assert cosine(e1, e1 + e2) == pytest.approx(np.sqrt(0.5))


def test_matrices_are_flattened_and_scale_free():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    expected = np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b))
    assert cosine(a, b) == pytest.approx(expected)
    assert angle_degrees(2.5 * a, 0.1 * b) == pytest.approx(np.degrees(np.arccos(expected)))
    assert cosine(a.astype(np.float32), b.astype(np.float32)) == pytest.approx(expected, rel=1e-6)


def test_zero_vector_has_no_direction():
    assert np.isnan(cosine(np.zeros(3), np.ones(3)))
    assert np.isnan(angle_degrees(np.ones(3), np.zeros(3)))


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        cosine(np.ones(3), np.ones(4))
    with pytest.raises(ValueError):
        layer_angles([np.ones(2)], [np.ones(2), np.ones(2)])


def test_per_layer_helpers():
    rng = np.random.default_rng(1)
    rule = [rng.normal(size=(3, 4)), rng.normal(size=(2, 3))]
    ref = [rule[0], -rule[1]]
    np.testing.assert_allclose(layer_cosines(rule, ref), [1.0, -1.0])
    np.testing.assert_allclose(layer_angles(rule, ref), [0.0, 180.0], atol=1e-6)
    forward = [rng.normal(size=(3, 4))]
    np.testing.assert_allclose(feedback_angles(forward, [forward[0].T]), [0.0], atol=1e-6)
    assert feedback_angles(forward, [rng.normal(size=(4, 3))])[0] > 10


def test_random_high_dimensional_vectors_are_nearly_orthogonal():
    rng = np.random.default_rng(2)
    assert abs(angle_degrees(rng.normal(size=10000), rng.normal(size=10000)) - 90) < 3


def test_per_sample_mean_angle_differs_from_the_flattened_angle():
    """Two samples: one large and aligned (0 degrees), one small and orthogonal (90):
    the flattened angle is dominated by the large sample, the per-sample mean is 45."""
    a = np.array([[10.0, 0.0], [0.0, 0.1]])
    b = np.array([[10.0, 0.0], [0.1, 0.0]])
    assert mean_row_angle(a, b) == pytest.approx(45.0)
    assert angle_degrees(a, b) < 1.0
    with_zero = np.vstack([a, np.zeros((1, 2))])
    assert mean_row_angle(with_zero, np.vstack([b, np.ones((1, 2))])) == pytest.approx(45.0)
    assert np.isnan(mean_row_angle(np.zeros((2, 2)), b))
    with pytest.raises(ValueError):
        mean_row_angle(a, b[:1])
