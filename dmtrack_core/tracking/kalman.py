"""Constant-velocity Kalman filter on boxes, as used by SORT/DeepSORT/FairMOT.

The state is (cx, cy, aspect, h) and their velocities; aspect = w / h. Process and
measurement noise scale with the box height, so a big (near) object may move more pixels
per frame than a small (far) one. ``gating_distance`` is the squared Mahalanobis distance
of measurements to the predicted box, compared against a chi-square quantile to rule out
matches that would need an implausible jump.
"""

from __future__ import annotations

import numpy as np

# chi-square 0.95 quantiles by degrees of freedom: the usual motion gates
CHI2_95 = {1: 3.8415, 2: 5.9915, 3: 7.8147, 4: 9.4877}


def xyxy_to_measurement(boxes_xyxy: np.ndarray) -> np.ndarray:
    """(N, 4) or (4,) x1, y1, x2, y2 -> cx, cy, aspect, h."""
    boxes = np.asarray(boxes_xyxy, dtype=np.float64)
    width = boxes[..., 2] - boxes[..., 0]
    height = np.maximum(boxes[..., 3] - boxes[..., 1], 1e-6)
    return np.stack(
        [(boxes[..., 0] + boxes[..., 2]) / 2, (boxes[..., 1] + boxes[..., 3]) / 2, width / height, height],
        axis=-1,
    )


def measurement_to_xyxy(measurement: np.ndarray) -> np.ndarray:
    """cx, cy, aspect, h (first four entries of ``measurement``) -> x1, y1, x2, y2."""
    cx, cy, aspect, height = (float(v) for v in np.asarray(measurement)[:4])
    height = max(height, 1e-6)
    width = max(aspect, 0.0) * height
    return np.array([cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2])


class KalmanFilter:
    """Stateless filter: methods take and return (mean (8,), covariance (8, 8))."""

    def __init__(self, position_std: float = 1.0 / 20.0, velocity_std: float = 1.0 / 160.0) -> None:
        self.position_std = position_std
        self.velocity_std = velocity_std
        self.transition = np.eye(8)
        self.transition[:4, 4:] = np.eye(4)  # x_{t+1} = x_t + v_t (one frame)
        self.observation = np.eye(4, 8)

    def initiate(self, measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        measurement = np.asarray(measurement, dtype=np.float64)
        mean = np.concatenate([measurement, np.zeros(4)])
        h = measurement[3]
        # velocities start unknown: wide; aspect is nearly constant: tight
        std = np.array(
            [
                2 * self.position_std * h,
                2 * self.position_std * h,
                1e-2,
                2 * self.position_std * h,
                10 * self.velocity_std * h,
                10 * self.velocity_std * h,
                1e-5,
                10 * self.velocity_std * h,
            ]
        )
        return mean, np.diag(std**2)

    def predict(self, mean: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = mean[3]
        std = np.array(
            [
                self.position_std * h,
                self.position_std * h,
                1e-2,
                self.position_std * h,
                self.velocity_std * h,
                self.velocity_std * h,
                1e-5,
                self.velocity_std * h,
            ]
        )
        mean = self.transition @ mean
        covariance = self.transition @ covariance @ self.transition.T + np.diag(std**2)
        return mean, covariance

    def multi_predict(self, means: np.ndarray, covariances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Batched :meth:`predict`: (T, 8) means and (T, 8, 8) covariances."""
        heights = means[:, 3]
        position = self.position_std * heights
        velocity = self.velocity_std * heights
        std = np.stack(
            [
                position,
                position,
                np.full_like(heights, 1e-2),
                position,
                velocity,
                velocity,
                np.full_like(heights, 1e-5),
                velocity,
            ],
            axis=1,
        )
        means = means @ self.transition.T
        covariances = self.transition @ covariances @ self.transition.T
        covariances = covariances + np.einsum("ti,ij->tij", std**2, np.eye(8))
        return means, covariances

    def project(self, mean: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The predicted measurement and its covariance (state uncertainty + measurement noise)."""
        h = mean[3]
        noise = np.diag(
            np.array([self.position_std * h, self.position_std * h, 1e-1, self.position_std * h]) ** 2
        )
        projected_cov = self.observation @ covariance @ self.observation.T + noise
        return self.observation @ mean, projected_cov

    def update(
        self, mean: np.ndarray, covariance: np.ndarray, measurement: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        projected_mean, projected_cov = self.project(mean, covariance)
        # Kalman gain K = P H^T S^-1, solved rather than inverted for stability
        cross = covariance @ self.observation.T
        gain = np.linalg.solve(projected_cov, cross.T).T
        innovation = np.asarray(measurement, dtype=np.float64) - projected_mean
        new_mean = mean + gain @ innovation
        new_covariance = covariance - gain @ projected_cov @ gain.T
        return new_mean, new_covariance

    def gating_distances(
        self, means: np.ndarray, covariances: np.ndarray, measurements: np.ndarray
    ) -> np.ndarray:
        """Batched :meth:`gating_distance`: (T, 8) means, (T, 8, 8) covariances, (M, 4)
        measurements -> (T, M) squared Mahalanobis distances (one solve for all tracks)."""
        means = np.asarray(means, dtype=np.float64).reshape(-1, 8)
        measurements = np.asarray(measurements, dtype=np.float64).reshape(-1, 4)
        if len(means) == 0 or len(measurements) == 0:
            return np.zeros((len(means), len(measurements)))
        heights = means[:, 3]
        noise_std = np.stack(
            [
                self.position_std * heights,
                self.position_std * heights,
                np.full_like(heights, 1e-1),
                self.position_std * heights,
            ],
            axis=1,
        )
        projected_cov = np.asarray(covariances)[:, :4, :4] + np.einsum("ti,ij->tij", noise_std**2, np.eye(4))
        difference = measurements[None, :, :] - means[:, None, :4]  # (T, M, 4)
        lower = np.linalg.cholesky(projected_cov)  # (T, 4, 4)
        z = np.linalg.solve(lower, np.swapaxes(difference, 1, 2))  # (T, 4, M)
        return np.sum(z * z, axis=1)

    def gating_distance(
        self, mean: np.ndarray, covariance: np.ndarray, measurements: np.ndarray, only_position: bool = False
    ) -> np.ndarray:
        """Squared Mahalanobis distance of each (cx, cy, aspect, h) row to the prediction."""
        projected_mean, projected_cov = self.project(mean, covariance)
        measurements = np.asarray(measurements, dtype=np.float64).reshape(-1, 4)
        if only_position:
            projected_mean, projected_cov = projected_mean[:2], projected_cov[:2, :2]
            measurements = measurements[:, :2]
        difference = measurements - projected_mean
        lower = np.linalg.cholesky(projected_cov)
        # solve L z = d^T; |z|^2 = d^T S^-1 d
        z = np.linalg.solve(lower, difference.T)
        return np.sum(z * z, axis=0)
