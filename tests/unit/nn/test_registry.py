"""The model registry is the one list of families: the spec union, the task list and the docs agree."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from deepfeat.nn.registry import families, families_for
from deepfeat.specs.model import ModelSpec
from deepfeat.specs.runs import Task

DOCS = Path(__file__).resolve().parents[3] / "docs" / "specs.md"


def _spec_types() -> set[str]:
    union = typing.get_args(ModelSpec)[0]
    return {typing.get_args(member.model_fields["type"].annotation)[0] for member in typing.get_args(union)}


def test_every_spec_type_has_a_builder_and_every_builder_a_spec_type() -> None:
    assert set(families()) == _spec_types()


def test_every_task_is_learnt_by_some_family_and_families_name_only_real_tasks() -> None:
    tasks = set(typing.get_args(Task))
    assert {task for family_tasks in families().values() for task in family_tasks} == tasks
    assert all(families_for(task) for task in tasks)


def test_the_docs_sentence_on_tasks_and_model_types_matches_the_registry() -> None:
    text = " ".join(DOCS.read_text().split())
    sentence = re.search(r"Which model types each task trains[^:]*: (.*?)\.(?: |$)", text)
    assert sentence is not None, "docs/specs.md lost the sentence listing model types per task"
    documented: dict[str, set[str]] = {}
    for clause in sentence.group(1).split(";"):
        tasks_part, _, types_part = clause.partition("—")
        types = set(re.findall(r"`(\w+)`", types_part))
        for task in re.findall(r"[a-z]+", tasks_part.replace(" and ", " ")):
            documented[task] = types
    assert documented == {task: set(families_for(task)) for task in typing.get_args(Task)}
