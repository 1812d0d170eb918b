"""Datasets: uploads checked and normalised once, built-ins registered on first use, immutable versions,
delete with blob collection, and loading arrays (by memory map) for the workers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deepfeat.config import Settings
from deepfeat.data.arrays import (
    LAYOUT_NPY,
    LAYOUT_NPZ,
    ArrayDataset,
    manifest_keys,
    read_manifest,
    read_normalised,
    read_npz,
    write_normalised,
)
from deepfeat.data.builtins import load_builtin
from deepfeat.data.formats import read_dataset
from deepfeat.data.options import ReadOptions
from deepfeat.data.preview import preview_rows
from deepfeat.data.schema import DatasetSchema
from deepfeat.db.models import Dataset
from deepfeat.db.repositories.datasets import DatasetRepository, referenced_keys
from deepfeat.db.session import after_commit
from deepfeat.db.types import db_int, utcnow
from deepfeat.errors import Conflict, NotFound, SpecError
from deepfeat.ids import new_id
from deepfeat.services.paging import cursor_page
from deepfeat.specs.datasets import UploadOptions
from deepfeat.storage import ArtifactStore, StoredBlob, sha_of_key

BUILTIN_PREFIX = "builtin:"
_NAME_VERSION = re.compile(r"^(?P<name>.+)@(?P<version>\d+)$")


@dataclass(frozen=True)
class UploadedFile:
    """An upload already streamed into the store's tmp dir (consumed by `create_from_upload`)."""

    path: Path
    filename: str | None
    sha256: str
    size_bytes: int


class DatasetService:
    def __init__(self, session: Session, project_id: str, store: ArtifactStore, settings: Settings) -> None:
        self.session = session
        self.repo = DatasetRepository(session, project_id)
        self.store = store
        # The caller's settings, never a fresh Settings(): reading the environment per request cost the
        # API ~13 % of its time (bench/api.py), and a test's or app's own settings must win.
        self.settings = settings

    # -- creating -------------------------------------------------------------------------------

    def register_builtin(self, name: str, display_name: str | None = None) -> Dataset:
        existing = self.repo.get_builtin(name)
        if existing is not None:
            return existing
        data = load_builtin(name)
        manifest, blobs = write_normalised(data, self.store, has_target=data.schema.has_target)
        self._forget_on_rollback(blobs)
        display = display_name or name
        try:
            dataset = self.repo.add(
                Dataset(
                    id=new_id("ds"),
                    name=display,
                    builtin=name,
                    format="builtin",
                    sha256=manifest.sha256,
                    size_bytes=sum(b.size_bytes for b in blobs),
                    blob_key=manifest.key,
                    layout=LAYOUT_NPY,
                    n_rows=data.n_rows,
                    schema=data.schema,
                    version=self.repo.next_version(display),
                )
            )
        except IntegrityError:
            raise _racing(display) from None
        return dataset

    def read_options(self, options: UploadOptions) -> ReadOptions:
        """The client's upload options plus this server's limits."""
        return ReadOptions(
            format=options.format,
            target=options.target,
            target_type=options.target_type,
            missing=options.missing,
            modality=options.modality,
            image_size=options.image_size,
            color=options.color,
            max_categories=self.settings.dataset_max_categories,
            limits={
                "max_extracted_bytes": self.settings.upload_max_extracted_bytes,
                "max_files": self.settings.upload_max_files,
                "max_pixels": self.settings.image_max_pixels,
            },
        )

    def create_from_upload(
        self, upload: UploadedFile, name: str | None, options: ReadOptions
    ) -> tuple[Dataset, bool]:
        """Check, normalise and record an upload: (dataset, created). The same bytes read the same way
        under the same name return the existing dataset; anything refused leaves no blob behind."""
        display = name or (Path(upload.filename).stem if upload.filename else "") or "dataset"
        record = options.as_record()
        same = [d for d in self.repo.same_upload(upload.sha256) if d.schema.read_options == record]
        latest = self.repo.by_name(display)
        if latest is not None and latest in same:  # a re-send of what the name already holds
            upload.path.unlink(missing_ok=True)
            return latest, False
        created: list[StoredBlob] = []
        try:
            source = self.store.adopt(upload.path)
            created.append(source)
            reuse = next((d for d in same if d.layout == LAYOUT_NPY), None)
            if reuse is not None:  # already parsed under another name: share its arrays
                manifest_key, schema = reuse.blob_key, reuse.schema.with_(filename=upload.filename)
            else:
                data = read_dataset(self.store.path(source.key), upload.filename, options, self.store.tmp_dir)
                schema = data.schema.with_(read_options=record, filename=upload.filename)
                manifest, blobs = write_normalised(data, self.store, has_target=schema.has_target)
                created.extend(blobs)
                manifest_key = manifest.key
            dataset = self.repo.add(
                Dataset(
                    id=new_id("ds"),
                    name=display,
                    builtin=None,
                    format=schema.format or options.format or "unknown",
                    sha256=source.sha256,
                    size_bytes=source.size_bytes,
                    blob_key=manifest_key,
                    layout=LAYOUT_NPY,
                    source_key=source.key,
                    n_rows=schema.n_rows,
                    schema=schema,
                    version=self.repo.next_version(display),
                )
            )
        except BaseException as exc:
            upload.path.unlink(missing_ok=True)
            # A failed flush leaves this session unusable until rolled back (the request does that):
            # look at references from a fresh one.
            with Session(self.session.get_bind()) as fresh:
                self.remove_unreferenced([b.key for b in created if b.created], session=fresh)
            if isinstance(exc, IntegrityError):
                raise _racing(display) from None
            raise
        self._forget_on_rollback(created)
        return dataset, True

    # -- reading --------------------------------------------------------------------------------

    def get(self, dataset_id: str) -> Dataset:
        dataset = self.repo.get(dataset_id)
        if dataset is None:
            raise NotFound(f"dataset {dataset_id!r} not found")
        return dataset

    def page(
        self, after: str | None, limit: int, name: str | None = None
    ) -> tuple[list[Dataset], str | None]:
        """A page of datasets and the cursor of the next (None at the end)."""
        return cursor_page(lambda n: self.repo.page(after, n, name), limit, self.settings.page_size_max)

    def schema_of(self, reference: str) -> DatasetSchema:
        """The schema a run spec's `dataset` names, storing nothing: a dry run must not register a
        built-in data set (that is `resolve`'s job when a run is submitted)."""
        if reference.startswith(BUILTIN_PREFIX):
            name = reference.removeprefix(BUILTIN_PREFIX)
            existing = self.repo.get_builtin(name)
            if existing is not None:
                return existing.schema
            try:
                return load_builtin(name).schema
            except NotFound as exc:
                raise SpecError("/dataset", exc.detail) from None
        return self.resolve(reference).schema

    def resolve(self, reference: str) -> Dataset:
        """A run spec's `dataset`: `builtin:<name>`, a dataset id, `name` (latest) or `name@version`;
        a 422 at `/dataset` if unknown."""
        try:
            if reference.startswith(BUILTIN_PREFIX):
                return self.register_builtin(reference.removeprefix(BUILTIN_PREFIX))
            found = self.repo.get(reference)
            if found is None:
                match = _NAME_VERSION.match(reference)
                version = db_int(match["version"]) if match else None
                if match is None:
                    found = self.repo.by_name(reference)
                elif version is not None:
                    found = self.repo.by_name(match["name"], version)
            if found is None:
                raise NotFound(f"dataset {reference!r} not found (an id, a name or name@version)")
            return found
        except NotFound as exc:
            raise SpecError("/dataset", exc.detail) from None

    def preview(self, dataset_id: str, limit: int) -> dict[str, Any]:
        dataset = self.get(dataset_id)
        data = load_arrays(dataset, self.store)
        return {
            "id": dataset.id,
            "modality": dataset.schema.modality,
            "n_rows": dataset.n_rows,
            "rows": preview_rows(data, limit),
        }

    # -- deleting -------------------------------------------------------------------------------

    def delete(self, dataset_id: str) -> None:
        """Delete a dataset (409 while a queued or running run uses it). Finished runs keep the row
        (marked deleted, hidden everywhere) for their record; blobs no one else uses go after commit."""
        dataset = self.get(dataset_id)
        active = self.repo.active_runs(dataset_id)
        if active:
            raise Conflict(
                f"dataset {dataset_id} is used by {len(active)} queued or running run(s) or extraction(s): "
                f"{', '.join(active[:5])}; cancel them or wait",
                runs=active,
            )
        keys = [dataset.blob_key, *([dataset.source_key] if dataset.source_key else [])]
        if dataset.layout == LAYOUT_NPY and self.store.has(dataset.blob_key):
            keys.extend(manifest_keys(read_manifest(self.store, dataset.blob_key)))
        if self.repo.has_runs(dataset_id):
            dataset.deleted_at = utcnow()
            dataset.builtin = None  # a built-in can be registered again
        else:
            self.repo.delete(dataset)
        after_commit(self.session, lambda: self.remove_unreferenced(keys, except_id=dataset_id))

    def remove_unreferenced(
        self, keys: list[str], except_id: str = "", session: Session | None = None
    ) -> None:
        """Remove blobs among `keys` that no live dataset (of any project) or artifact refers to."""
        if not keys:
            return
        referenced, manifests = referenced_keys(session or self.session, except_id)
        for key in manifests:  # array blobs are named only inside manifests
            if self.store.has(key):
                referenced.update(manifest_keys(read_manifest(self.store, key)))
        for key in set(keys) - referenced:
            self.store.delete(key)

    def _forget_on_rollback(self, blobs: list[StoredBlob]) -> None:
        """If the request's transaction rolls back after all, the blobs it newly stored go too."""
        new_keys = [b.key for b in blobs if b.created]
        if not new_keys:
            return

        armed = [True]  # disarmed once committed; the session (one request) ends soon after anyway

        def on_rollback(_: Session) -> None:
            if not armed[0]:
                return
            armed[0] = False
            # The rolled-back session cannot run SQL inside this hook: look with a fresh one.
            with Session(self.session.get_bind()) as fresh:
                self.remove_unreferenced(new_keys, session=fresh)

        def disarm() -> None:
            armed[0] = False

        event.listen(self.session, "after_rollback", on_rollback)
        after_commit(self.session, disarm)


def _racing(name: str) -> Conflict:
    return Conflict(f"another request created dataset {name!r} at the same moment; send this one again")


def load_arrays(dataset: Dataset, store: ArtifactStore, verify: bool = False) -> ArrayDataset:
    """The dataset's arrays: memory-mapped `.npy` blobs (or, for old rows, the `.npz` read whole). Workers
    pass `verify`: bytes that no longer match their recorded sha256 fail with `artifact_corrupt`."""
    if dataset.layout == LAYOUT_NPZ:
        key = dataset.blob_key
        sha = sha_of_key(key) or ""
        return read_npz(
            store.verified(key, sha, "the dataset") if verify else store.path(key), dataset.schema
        )
    return read_normalised(store, dataset.blob_key, dataset.schema, verify)
