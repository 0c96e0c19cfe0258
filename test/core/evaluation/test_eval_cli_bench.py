"""`dmtrack synth`, `dmtrack eval` and a miniature `dmtrack bench` end to end (baselines only)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from dmtrack_core.cli import main
from dmtrack_core.evaluation.bench import (
    WARM_UP_CALLS,
    BenchOptions,
    _Contender,
    _time_interleaved,
    run_bench,
)
from dmtrack_core.evaluation.runner import result_paths


def test_synth_then_eval_with_kcf(tmp_path: Path, capsys):
    assert main(["synth", "--out", str(tmp_path / "data"), "--seeds", "5", "--quiet"]) == 0
    assert (tmp_path / "data" / "synth-00005" / "groundtruth.txt").exists()
    code = main(
        [
            "eval",
            "--dataset",
            "lasot",
            "--root",
            str(tmp_path / "data"),
            "--trackers",
            "kcf",
            "--out",
            str(tmp_path / "results"),
            "--max-frames",
            "20",
            "--plots",
            str(tmp_path / "plots"),
            "--quiet",
        ]
    )
    assert code == 0
    output = capsys.readouterr().out
    assert "KCF" in output and "AUC" in output
    assert len(result_paths(tmp_path / "results", "KCF", "synth-00005").boxes.read_text().splitlines()) == 20
    assert (tmp_path / "plots" / "success.png").stat().st_size > 1000


def test_miniature_bench_writes_the_report(tmp_path: Path):
    options = BenchOptions(
        out=tmp_path / "bench_output",
        markdown=tmp_path / "BENCHMARKS.md",
        plots=tmp_path / "docs" / "bench",
        sequences=1,
        max_frames=15,
        speed_frames=10,
        trackers=("kcf",),
        progress=False,
        redetect_cases=4,
        node_seconds=2.0,
    )
    path = run_bench(options, "dmtrack bench --test")
    text = path.read_text()
    assert "| KCF |" in text and "## Speed at 640x480" in text and "dmtrack bench --test" in text
    assert "![success](docs/bench/success.png)" in text
    # real footage leads, the synthetic suite follows
    assert text.index("## Real footage") < text.index("## Accuracy on the synthetic distractor suite")
    assert "![real_success](docs/bench/real_success.png)" in text
    assert "![real_cockatoo](docs/bench/real_cockatoo.png)" in text
    assert "### The ROS node at 30 fps" in text and "| Published |" in text  # the node ran
    for name in ("success.png", "precision.png", "norm_precision.png"):
        assert (tmp_path / "docs" / "bench" / name).exists()
    # the suite is reused: a second run does not rewrite its frames
    frame = tmp_path / "bench_output" / "suite" / "synth-10000" / "img" / "00000001.jpg"
    stamp = frame.stat().st_mtime_ns
    run_bench(dataclasses.replace(options, node_seconds=0.0), "dmtrack bench --test")
    assert frame.stat().st_mtime_ns == stamp


def test_speed_contenders_take_turns_on_each_frame():
    calls: list[tuple[str, int]] = []

    def contender(name: str) -> _Contender:
        return _Contender(
            name, "", "cpu", lambda frame: int(frame[0, 0, 0]), lambda i: calls.append((name, i)), []
        )

    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(WARM_UP_CALLS + 3)]
    first, second = contender("a"), contender("b")
    _time_interleaved([first, second], frames)
    assert calls == [(name, i) for i in range(len(frames)) for name in ("a", "b")]
    assert len(first.latencies_ms) == len(second.latencies_ms) == 3
