"""Which device each pool process of a worker uses: child i of G visible GPUs takes torch's cuda:(i mod G)."""

from __future__ import annotations

import pytest

from deepfeat import gpus
from deepfeat.gpus import SlotDevice, assign, visible_gpus


def test_no_gpu_means_every_child_on_the_cpu() -> None:
    assert [assign(i, 0, None) for i in range(3)] == [SlotDevice(i, "cpu", None) for i in range(3)]
    assert assign(0, 0, "3,5") == SlotDevice(0, "cpu", None)  # listed but not seen: still no GPU
    assert assign(None, 0, None).describe() == "cpu"


def test_three_children_on_two_gpus_share_them_round_robin() -> None:
    assert [assign(i, 2, None).device for i in range(3)] == ["cuda:0", "cuda:1", "cuda:0"]
    assert [assign(i, 2, None).gpu for i in range(3)] == ["0", "1", "0"]


def test_cuda_visible_devices_names_the_physical_gpus_torch_numbers_from_zero() -> None:
    slots = [assign(i, 2, "3,5") for i in range(3)]
    assert [(s.device, s.gpu) for s in slots] == [("cuda:0", "3"), ("cuda:1", "5"), ("cuda:0", "3")]
    assert slots[1].describe() == "cuda:1 (GPU 5)"
    assert assign(1, 2, None).describe() == "cuda:1"  # torch's number is the GPU's: said once
    uuids = "GPU-8a2f, MIG-41c0"
    assert assign(1, 2, uuids) == SlotDevice(1, "cuda:1", "MIG-41c0")


def test_only_the_gpus_torch_counts_are_used() -> None:
    # CUDA stops at an invalid entry ("3,99,5" with no GPU 99 → one device): torch's count decides.
    assert visible_gpus(1, "3,99,5") == ["3"]
    assert [assign(i, 1, "3,99,5").device for i in range(2)] == ["cuda:0", "cuda:0"]
    assert visible_gpus(2, " 4 , 6 ") == ["4", "6"]


def test_a_data_parallel_run_s_ranks_take_the_gpus_after_their_pool_process_s() -> None:
    # Pool process 1 of a worker with 4 GPUs: its 3 ranks on cuda:1, cuda:2, cuda:3; process 3 wraps.
    assert [assign(1, 4, None, rank).device for rank in range(3)] == ["cuda:1", "cuda:2", "cuda:3"]
    assert [assign(3, 4, None, rank).device for rank in range(3)] == ["cuda:3", "cuda:0", "cuda:1"]
    assert [assign(None, 2, None, rank).device for rank in range(2)] == ["cuda:0", "cuda:1"]


def test_a_process_uses_the_slot_it_claimed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpus, "_pool_index", None)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert gpus.process_slot(2) == SlotDevice(None, "cuda:0", "3")
    gpus.claim_slot(2)
    assert gpus.pool_index() == 2
    assert gpus.process_slot(2) == SlotDevice(2, "cuda:0", "3")
    assert gpus.process_slot(2, rank=1) == SlotDevice(2, "cuda:1", "5")
    gpus.claim_slot(1)
    assert gpus.process_slot(2) == SlotDevice(1, "cuda:1", "5")
    assert gpus.process_slot(0) == SlotDevice(1, "cpu", None)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert gpus.process_slot(3) == SlotDevice(1, "cuda:1", "1")
