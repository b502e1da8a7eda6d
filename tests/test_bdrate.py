"""benchmarks/bdrate.py: PCHIP interpolation, BD-rate and BD-PSNR on synthetic curves."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from bdrate import bd_psnr, bd_rate, pchip, psnr_at  # noqa: E402

RATES = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
PSNRS = np.array([25.0, 28.0, 31.5, 35.0, 38.0])


def test_pchip_through_knots_monotone_and_exact_on_lines():
    f = pchip(RATES, PSNRS)
    assert np.allclose(f(RATES), PSNRS)
    t = np.linspace(RATES[0], RATES[-1], 500)
    assert np.all(np.diff(f(t)) >= 0)
    line = pchip([0.0, 1.0, 3.0, 4.0], [1.0, 3.0, 7.0, 9.0])
    assert np.allclose(line([0.5, 2.0, 3.5]), [2.0, 5.0, 8.0])
    step = pchip([0.0, 1.0, 2.0, 3.0], [0.0, 0.0, 1.0, 1.0])  # flat parts stay flat: no overshoot
    assert np.allclose(step([0.5, 2.5]), [0.0, 1.0])
    with pytest.raises(ValueError):
        pchip([0.0, 0.0], [1.0, 2.0])


def test_identical_curves():
    assert bd_rate(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)
    assert bd_psnr(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)


def test_halved_rates_are_minus_50_percent():
    assert bd_rate(RATES, PSNRS, RATES / 2, PSNRS) == pytest.approx(-50.0, abs=1e-9)
    assert bd_rate(RATES / 2, PSNRS, RATES, PSNRS) == pytest.approx(100.0, abs=1e-9)


def test_one_db_better():
    assert bd_rate(RATES, PSNRS, RATES, PSNRS + 1.0) < 0
    assert bd_psnr(RATES, PSNRS, RATES, PSNRS + 1.0) == pytest.approx(1.0, abs=1e-9)


def test_no_overlap_and_unsorted_points():
    assert bd_rate(RATES, PSNRS, RATES, PSNRS + 20.0) is None
    order = [3, 0, 4, 1, 2]
    assert bd_rate(RATES[order], PSNRS[order], RATES / 2, PSNRS) == pytest.approx(-50.0, abs=1e-9)


def test_psnr_at():
    assert psnr_at(RATES, PSNRS, 0.4) == pytest.approx(31.5)
    assert 28.0 < psnr_at(RATES, PSNRS, 0.3) < 31.5
    assert psnr_at(RATES, PSNRS, 2.0) is None
