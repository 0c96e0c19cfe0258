"""`dmtrack synth`, `dmtrack eval` and a miniature `dmtrack bench` end to end (baselines only)."""

from __future__ import annotations

from pathlib import Path

from dmtrack_core.cli import main
from dmtrack_core.evaluation.bench import BenchOptions, run_bench
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
    )
    path = run_bench(options, "dmtrack bench --test")
    text = path.read_text()
    assert "| KCF |" in text and "## Speed at 640x480" in text and "dmtrack bench --test" in text
    assert "![success](docs/bench/success.png)" in text
    for name in ("success.png", "precision.png", "norm_precision.png"):
        assert (tmp_path / "docs" / "bench" / name).exists()
    # the suite is reused: a second run does not rewrite its frames
    frame = tmp_path / "bench_output" / "suite" / "synth-10000" / "img" / "00000001.jpg"
    stamp = frame.stat().st_mtime_ns
    run_bench(options, "dmtrack bench --test")
    assert frame.stat().st_mtime_ns == stamp
