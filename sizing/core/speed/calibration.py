"""The speed model's calibration at run time: the stored per-backend factors.

``data/speed_calibration.yaml`` holds factors fitted offline (``harness/speed_fit.py``)
to cited llama-bench rows, with their provenance. The speed model reads them through
:func:`load_calibration`; nothing fits at run time. :func:`fit_time_line` is the one
weighted least-squares line both that fit and this machine's live calibration use.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

from sizing.core.speed.estimate import CalibrationSet
from sizing.core.tables import data_file, read_yaml, validate

if TYPE_CHECKING:
    from sizing.core.tables import DataPath

CALIBRATION_FILE = data_file("speed_calibration.yaml")


def fit_time_line(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares ``t = a·x + b`` with ``b >= 0`` (else through the origin).

    Seconds per decoded token against bytes read (or seconds at full bandwidth): ``a`` is
    the inverse effective bandwidth, ``b`` the fixed per-token cost. Each point is weighted
    by 1/t² so it counts by its *relative* error (a small model's millisecond steps would
    otherwise not count at all). The public calibration (llama-bench rows) and this
    machine's (``sizing.live.calibrate``, stored live checks) both fit this line.
    """
    w = [1.0 / (t * t) for _, t in points]
    sw = sum(w)
    mx = sum(wi * x for wi, (x, _) in zip(w, points)) / sw
    mt = sum(wi * t for wi, (_, t) in zip(w, points)) / sw
    sxx = sum(wi * (x - mx) ** 2 for wi, (x, _) in zip(w, points))
    sxt = sum(wi * (x - mx) * (t - mt) for wi, (x, t) in zip(w, points))
    a = sxt / sxx if sxx > 0 else 0.0
    b = mt - a * mx
    if b < 0:  # no negative overhead: through the origin
        b = 0.0
        a = sum(wi * x * t for wi, (x, t) in zip(w, points)) / sum(wi * x * x for wi, (x, _) in zip(w, points))
    return a, b


@cache
def load_calibration(path: DataPath = CALIBRATION_FILE) -> CalibrationSet:
    """The stored calibration; validated, so a hand-edited file fails with its field named."""
    return validate(CalibrationSet, read_yaml(path, "calibration"), f"{path}:")
