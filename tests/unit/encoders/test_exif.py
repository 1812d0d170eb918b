"""A served photo is read upright, as dataset ingest reads it: the EXIF orientation is applied."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from deepfeat.encoders.image import decode_image

ORIENTATION = 0x0112
ROTATE_90_CW = 6  # the camera was held sideways: show the pixels turned 90° clockwise


def test_served_images_apply_the_exif_rotation() -> None:
    rng = np.random.default_rng(0)
    stored = Image.fromarray(rng.integers(0, 255, (20, 40, 3), dtype=np.uint8))  # 40 wide, 20 high
    exif = stored.getexif()
    exif[ORIENTATION] = ROTATE_90_CW
    buffer = io.BytesIO()
    stored.save(buffer, format="PNG", exif=exif.tobytes())
    served = decode_image(base64.b64encode(buffer.getvalue()).decode(), "/inputs/0")
    assert served.size == (20, 40)  # turned upright: now 20 wide, 40 high
    expected = stored.transpose(Image.Transpose.ROTATE_270)  # 90° clockwise
    assert np.array_equal(np.asarray(served), np.asarray(expected))
