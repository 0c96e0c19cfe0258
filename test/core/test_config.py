from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from dmtrack_core.config import ConfigError, from_dict, load_yaml, save_yaml


@dataclass
class Inner:
    threshold: float = 0.5
    sizes: tuple[int, int] = (640, 480)


@dataclass
class Outer:
    name: str = "x"
    steps: int = 3
    inner: Inner = field(default_factory=Inner)
    ranges: list[tuple[float, float]] = field(default_factory=list)
    weights: str | None = None


def test_nested_values_are_typed():
    cfg = from_dict(Outer, {"steps": 4, "inner": {"threshold": 1, "sizes": [320, 240]}, "ranges": [[0, 64]]})
    assert cfg.inner.threshold == 1.0 and isinstance(cfg.inner.threshold, float)
    assert cfg.inner.sizes == (320, 240)
    assert cfg.ranges == [(0.0, 64.0)]


def test_unknown_key_fails_loudly():
    with pytest.raises(ConfigError, match="thresold"):
        from_dict(Outer, {"inner": {"thresold": 0.2}})


def test_wrong_type_fails():
    with pytest.raises(ConfigError, match="steps"):
        from_dict(Outer, {"steps": "many"})


def test_yaml_round_trip(tmp_path):
    cfg = Outer(name="y", inner=Inner(0.25, (1, 2)), ranges=[(0.0, 1.0)], weights="w.pt")
    path = tmp_path / "c.yaml"
    save_yaml(cfg, path)
    assert load_yaml(Outer, path) == cfg


def test_unreadable_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("a: [unclosed")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_yaml(Outer, path)
