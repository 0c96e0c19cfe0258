"""`dmtrack-ros demo` (and `make demo`): the replay pipeline on a real clip that ships with an
installed package, with a chosen target, so that a first run needs no data and no arguments."""

from __future__ import annotations

from pathlib import Path

from dmtrack_ros import demo_defaults
from dmtrack_ros.replay import ReplayOptions


def demo_options(
    full_clip: bool = False, output_dir: Path = Path("demo_output"), **overrides
) -> ReplayOptions:
    """Options of the demo run; ``overrides`` are further `ReplayOptions` fields."""
    return ReplayOptions(
        init_box=demo_defaults.DEMO_INIT_BOX_XYWH,
        video=demo_defaults.demo_clip_path(),
        init_frame=demo_defaults.DEMO_INIT_FRAME,
        start_frame=0 if full_clip else demo_defaults.DEMO_START_FRAME,
        end_frame=None if full_clip else demo_defaults.DEMO_END_FRAME,
        target_id=demo_defaults.DEMO_TARGET_ID,
        output_dir=output_dir,
        name="demo",
        namespace="dmtrack_demo",
        **overrides,
    )
