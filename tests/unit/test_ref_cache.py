"""Registered encoder refs remembered by the embedding routes: for a moment, per project, and never
past a change to the encoders in this process."""

from __future__ import annotations

import time

from deepfeat.services.ref_cache import RefCache, encoders_changed, generation


def test_a_ref_is_remembered_per_project_for_its_ttl() -> None:
    refs: RefCache[str] = RefCache(ttl_s=0.2)
    refs.put("prj_a", "digits", "digits@1", generation())
    assert refs.get("prj_a", "digits") == "digits@1"
    assert refs.get("prj_b", "digits") is None  # another project's `digits` is another encoder
    time.sleep(0.25)
    assert refs.get("prj_a", "digits") is None


def test_a_change_voids_what_was_remembered_and_what_was_being_looked_up() -> None:
    refs: RefCache[str] = RefCache(ttl_s=60)
    refs.put("prj_a", "digits", "digits@1", generation())
    in_flight = generation()  # a lookup starts
    encoders_changed()  # meanwhile, `latest` moves (after its commit)
    assert refs.get("prj_a", "digits") is None
    refs.put("prj_a", "digits", "digits@1", in_flight)  # the lookup ends with the old answer
    assert refs.get("prj_a", "digits") is None
    refs.put("prj_a", "digits", "digits@2", generation())
    assert refs.get("prj_a", "digits") == "digits@2"
