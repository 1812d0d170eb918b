"""An autoencoder leaves what the run page draws: reconstructions and the anomaly-score histogram."""

from __future__ import annotations

import json
from io import BytesIO

import numpy as np
from PIL import Image

from deepfeat.config import Settings
from deepfeat.data.builtins import load_builtin
from deepfeat.specs.runs import RunSpec
from deepfeat.train.job import train
from deepfeat.train.reconstructions import SAMPLES, error_histogram
from service.dashboard.pages import templates
from service.dashboard.svg import histogram_chart, histogram_from_quantiles
from tests.helpers.training import Recorder


def autoencoder(dataset: str) -> RunSpec:
    return RunSpec.model_validate(
        {
            "dataset": dataset,
            "task": "autoencoder",
            "model": {"type": "autoencoder", "hidden": [32], "latent_dim": 4},
            "training": {"epochs": 2, "batch_size": 64},
        }
    )


def test_images_get_a_png_of_inputs_over_reconstructions_and_a_histogram() -> None:
    outcome = train(autoencoder("builtin:digits"), load_builtin("digits"), Recorder(), Settings())
    media_type, png = outcome.files["reconstructions.png"]
    assert media_type == "image/png"
    image = Image.open(BytesIO(png))
    assert image.size == (6 * (SAMPLES * 9 + 1), 6 * (2 * 9 + 1))  # 8 columns, input row + output row, ×6
    anomaly = outcome.extras["anomaly"]
    histogram = anomaly["histogram"]
    assert len(histogram["edges"]) == len(histogram["counts"]) + 1
    assert sum(histogram["counts"]) == anomaly["n"]  # errors past the range count in the last bar
    assert histogram["edges"][0] <= anomaly["threshold"] <= histogram["edges"][-1]
    assert histogram["overflow"] <= histogram["counts"][-1]


def test_tabular_data_gets_numbers_to_draw() -> None:
    outcome = train(autoencoder("builtin:iris"), load_builtin("iris"), Recorder(), Settings())
    assert "reconstructions.png" not in outcome.files
    body = json.loads(outcome.files["reconstructions.json"][1])
    assert body["features"] == 4
    assert len(body["inputs"]) == len(body["reconstructions"]) == len(body["errors"]) == SAMPLES
    assert all(len(row) == 4 for row in body["reconstructions"])


def test_the_histogram_svg_marks_the_threshold() -> None:
    errors = np.random.default_rng(0).gamma(2.0, 0.1, size=500)
    threshold = float(np.quantile(errors, 0.99))
    histogram = error_histogram(errors, threshold, bins=20)
    chart = histogram_chart(histogram["edges"], histogram["counts"], threshold)
    drawn = templates.env.from_string(
        '{% import "charts.html" as c %}{{ c.histogram(chart, "scores <x>") }}'
    ).render(chart=chart)
    assert drawn.count('class="bar"') == 20
    assert f'data-threshold="{threshold}"' in drawn
    assert "&lt;x&gt;" in drawn  # labels are escaped
    # Old runs kept only percentiles: the histogram rebuilt from them holds 100% of the mass.
    approx = histogram_from_quantiles(np.quantile(errors, np.linspace(0, 1, 101)).tolist())
    assert abs(sum(approx["counts"]) - 100) < 0.5
