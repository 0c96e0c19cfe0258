"""``python -m dmtrack_ros.node_bench`` (the benchmark's node-rate row): a real node process and a
real publisher; its report must account for every frame with the node's own counters."""

from __future__ import annotations

from dmtrack_core.evaluation.bench import node_rate_markdown
from dmtrack_ros import node_bench


def test_the_report_accounts_for_every_published_frame(tmp_path):
    result = node_bench.run(fps=15.0, duration_s=3.0, width=640, height=480, log_dir=tmp_path)
    published, processed = result["published"], result["processed"]
    received, dropped = result["received_by_node"], result["dropped_by_node"]
    assert published == 45
    assert 0 < processed <= received <= published
    assert received + result["lost_in_transport"] <= published
    # what the node received was processed or dropped for a newer frame (the last one or two
    # may still be in the worker when the run ends)
    assert received - 2 <= processed + dropped <= received
    assert result["latency_p50_ms"] >= result["step_p50_ms"] > 0
    table = node_rate_markdown(result)
    assert f"| {published} | {received} | {dropped} | {processed} (" in table
