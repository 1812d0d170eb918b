"""How the cores are split: API processes on one port each take an equal share for inference."""

from __future__ import annotations

from deepfeat.cores import api_process_threads, available_cores
from deepfeat.processes import api_env


def test_api_processes_split_the_cores_and_each_keeps_at_least_one() -> None:
    assert api_process_threads(1, 8) == 8
    assert api_process_threads(2, 8) == 4
    assert api_process_threads(3, 8) == 2  # 2 threads left idle rather than one process oversubscribed
    assert api_process_threads(4, 2) == 1


def test_deepfeat_api_workers_sets_each_processes_threads_unless_told() -> None:
    assert api_env(1, {}) == {}  # one process: the runtime sizes itself from what workers leave
    share = api_process_threads(2, available_cores())
    assert api_env(2, {}) == {"DEEPFEAT_INFERENCE_THREADS": str(share)}
    assert api_env(2, {"DEEPFEAT_INFERENCE_THREADS": "3"}) == {}  # the operator's number stands
