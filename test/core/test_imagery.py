"""The offline imagery: the listed files read as RGB, the held-out ones never."""

import numpy as np
import pytest

from dmtrack_core.imagery import HELD_OUT_NAMES, ImageryError, read_clip_frames, read_still


def test_a_grey_still_reads_as_three_channel_rgb() -> None:
    image = read_still("camera.png")
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert np.array_equal(image[..., 0], image[..., 1])


def test_clip_frames_start_step_and_count() -> None:
    every = read_clip_frames("carphone_pristine.mp4", start=2, count=5)
    stepped = read_clip_frames("carphone_pristine.mp4", start=2, count=2, step=3)
    assert len(every) == 5 and len(stepped) == 2
    assert np.array_equal(stepped[0], every[0]) and np.array_equal(stepped[1], every[3])


@pytest.mark.parametrize("name", sorted(HELD_OUT_NAMES))
def test_held_out_files_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="held out"):
        read_clip_frames(name)


def test_a_missing_file_is_a_clear_error() -> None:
    with pytest.raises(ImageryError, match="cannot read"):
        read_still("no_such_image.png")
    with pytest.raises(ImageryError):
        read_clip_frames("carphone_pristine.mp4", start=10**6)
