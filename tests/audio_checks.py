"""What the audio tests compare recordings with."""

from __future__ import annotations

import numpy as np


def alignment(recorded: np.ndarray, sent: np.ndarray) -> tuple[float, int]:
    """The highest normalised cross-correlation of `sent` against `recorded` over every lag, and that
    lag (in samples): 1.0 means `recorded` holds `sent` exactly, at that offset."""
    rec, ref = recorded.astype(np.float64), sent.astype(np.float64)
    corr = np.correlate(rec, ref, mode="valid")
    windows = np.sqrt(np.convolve(rec * rec, np.ones(len(ref)), mode="valid"))
    scores = corr / (windows * np.linalg.norm(ref) + 1e-9)
    return float(np.max(scores)), int(np.argmax(scores))


def best_alignment(recorded: np.ndarray, sent: np.ndarray) -> float:
    return alignment(recorded, sent)[0]
