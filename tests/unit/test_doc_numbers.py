"""Numbers the docs quote come from the code: the validation example, the epochs in the CLI samples,
the list of built-in data sets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from deepfeat.config import Settings
from deepfeat.data.builtins import BUILTINS, load_builtin
from deepfeat.nn import BuildContext
from deepfeat.specs.runs import RunSpec
from deepfeat.train.setup import setup_run

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_validation_example_is_what_validate_answers() -> None:
    text = (ROOT / "docs" / "specs.md").read_text().split("## Validation report", 1)[1]
    quoted = json.loads(re.search(r"```json\n(.*?)```", text, flags=re.S)[1])  # type: ignore[index]
    spec = RunSpec.model_validate(json.loads((ROOT / "examples" / "mlp-digits.json").read_text()))
    setup = setup_run(spec, load_builtin("digits").schema, Settings(), BuildContext())
    report = setup.report
    assert quoted == {
        "params": report.params,
        "trainable_params": report.trainable_params,
        "flops": report.flops,
        "flops_per_sample": report.flops,
        "input_shape": setup.input_shape,
        "output_shape": report.output_shape,
        "memory_estimate": report.memory_estimate,
    }


def test_cli_samples_quote_the_epochs_of_their_spec() -> None:
    example = json.loads((ROOT / "examples" / "mlp-digits.json").read_text())
    [epochs] = re.findall(r"succeeded after (\d+) epochs", README)
    assert int(epochs) == example["training"]["epochs"]
    cli = (ROOT / "docs" / "cli.md").read_text()
    spec = yaml.safe_load(re.search(r"\$ cat digits.yaml\n(.*?)\n\$", cli, flags=re.S)[1])  # type: ignore[index]
    [quoted] = re.findall(r"succeeded after (\d+) epochs", cli)
    assert int(quoted) == spec["training"]["epochs"]
    assert f"/{spec['training']['epochs']} " in cli  # the progress bar's "epoch 16/20"


def test_the_built_ins_listed_are_the_built_ins() -> None:
    line = next(line for line in README.splitlines() if line.startswith("Built-ins:"))
    assert set(re.findall(r"`(?:builtin:)?([\w-]+)`", line)) == set(BUILTINS)
    table = (ROOT / "docs" / "datasets.md").read_text().split("## Built-ins", 1)[1].split("\n\n", 2)[1]
    names = {n for row in table.splitlines()[2:] for n in re.findall(r"`([\w-]+)`", row.split("|")[1])}
    assert names == set(BUILTINS)
