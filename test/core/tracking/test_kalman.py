"""Constant-velocity Kalman filter on (cx, cy, aspect, h)."""

from __future__ import annotations

import numpy as np

from dmtrack_core.tracking.kalman import CHI2_95, KalmanFilter, measurement_to_xyxy, xyxy_to_measurement


def test_box_conversions_round_trip() -> None:
    boxes = np.array([[10.0, 20.0, 50.0, 100.0], [0.0, 0.0, 1.0, 2.0]])
    measurement = xyxy_to_measurement(boxes)
    np.testing.assert_allclose(measurement[0], [30.0, 60.0, 0.5, 80.0])
    for box, m in zip(boxes, measurement, strict=True):
        np.testing.assert_allclose(measurement_to_xyxy(m), box)


def test_learns_constant_velocity_and_predicts_ahead() -> None:
    kalman = KalmanFilter()
    mean, cov = kalman.initiate(np.array([100.0, 50.0, 0.5, 80.0]))
    for step in range(1, 30):
        mean, cov = kalman.predict(mean, cov)
        mean, cov = kalman.update(mean, cov, np.array([100.0 + 5 * step, 50.0 - 2 * step, 0.5, 80.0]))
    np.testing.assert_allclose(mean[4:6], [5.0, -2.0], atol=0.2)
    mean, _ = kalman.predict(mean, cov)
    np.testing.assert_allclose(mean[:2], [100.0 + 5 * 30, 50.0 - 2 * 30], atol=1.0)


def test_uncertainty_grows_while_coasting_and_shrinks_on_update() -> None:
    kalman = KalmanFilter()
    mean, cov = kalman.initiate(np.array([0.0, 0.0, 1.0, 50.0]))
    predicted_mean, predicted_cov = kalman.predict(mean, cov)
    assert np.all(np.diag(predicted_cov) >= np.diag(cov))
    _, updated_cov = kalman.update(predicted_mean, predicted_cov, predicted_mean[:4])
    assert np.all(np.diag(updated_cov)[:4] < np.diag(predicted_cov)[:4])
    assert np.allclose(updated_cov, updated_cov.T)


def test_gating_distance_separates_near_from_far() -> None:
    kalman = KalmanFilter()
    mean, cov = kalman.initiate(np.array([100.0, 100.0, 0.5, 80.0]))
    mean, cov = kalman.predict(mean, cov)
    candidates = np.array([[101.0, 99.0, 0.5, 80.0], [100.0, 100.0, 0.5, 80.0], [300.0, 100.0, 0.5, 80.0]])
    distance = kalman.gating_distance(mean, cov, candidates)
    assert distance.shape == (3,)
    assert distance[1] < 1e-9
    assert distance[0] < CHI2_95[4] < distance[2]
    position_only = kalman.gating_distance(mean, cov, candidates, only_position=True)
    assert position_only[0] < CHI2_95[2] < position_only[2]
    # bigger boxes move more pixels: the same 40 px jump passes the gate for a 400 px box
    big_mean, big_cov = kalman.predict(*kalman.initiate(np.array([100.0, 100.0, 0.5, 400.0])))
    assert kalman.gating_distance(big_mean, big_cov, np.array([[140.0, 100.0, 0.5, 400.0]]))[0] < CHI2_95[4]
    assert kalman.gating_distance(mean, cov, np.array([[140.0, 100.0, 0.5, 80.0]]))[0] > CHI2_95[4]


def test_batched_gating_distances_equal_the_single_track_ones() -> None:
    kalman = KalmanFilter()
    rng = np.random.default_rng(0)
    states = []
    for _ in range(3):
        mean, cov = kalman.initiate(np.array([*rng.uniform(0, 500, 2), 0.5, rng.uniform(20, 200)]))
        for _ in range(3):
            mean, cov = kalman.predict(mean, cov)
        states.append((mean, cov))
    measurements = np.column_stack([rng.uniform(0, 500, (5, 2)), np.full(5, 0.6), rng.uniform(20, 200, 5)])
    batched = kalman.gating_distances(
        np.array([m for m, _ in states]), np.array([c for _, c in states]), measurements
    )
    for row, (mean, cov) in enumerate(states):
        np.testing.assert_allclose(batched[row], kalman.gating_distance(mean, cov, measurements), rtol=1e-9)


def test_batched_predict_equals_single_predict() -> None:
    kalman = KalmanFilter()
    states = [kalman.initiate(np.array([10.0 * i, 5.0, 0.5 + 0.1 * i, 40.0 + i])) for i in range(3)]
    states = [
        kalman.update(*kalman.predict(m, c), np.array([10.0 * i + 3, 6.0, 0.5, 42.0]))
        for i, (m, c) in enumerate(states)
    ]
    means, covariances = kalman.multi_predict(
        np.array([m for m, _ in states]), np.array([c for _, c in states])
    )
    for (mean, cov), batched_mean, batched_cov in zip(states, means, covariances, strict=True):
        single_mean, single_cov = kalman.predict(mean, cov)
        np.testing.assert_allclose(batched_mean, single_mean)
        np.testing.assert_allclose(batched_cov, single_cov)
