"""Extraction jobs: validate (encoder, dataset, layer, pool) up front, queue after commit, list, cancel.

Validation embeds the dataset's first row in the gateway with the very embedder the worker will use:
an encoder that cannot read the data, or a layer that does not give one vector per row, is a 422 now
rather than a failed job later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from deepfeat.config import Settings
from deepfeat.db.models import Artifact, Dataset, Extraction
from deepfeat.db.repositories.extractions import ExtractionRepository
from deepfeat.db.session import after_commit
from deepfeat.encoders.embedder import EmbedOptions, InvalidInput
from deepfeat.encoders.runtime import EncoderRuntime
from deepfeat.errors import NotFound, SpecError
from deepfeat.ids import new_id
from deepfeat.services.datasets import DatasetService, load_arrays
from deepfeat.services.encoders import EncoderService, Resolved, options_for
from deepfeat.services.jobs import found, request_cancel
from deepfeat.services.paging import cursor_page
from deepfeat.specs.extractions import ExtractionRequest
from deepfeat.storage import ArtifactStore

# (extraction id, queue) → put the message on the broker; given by the caller (the core never imports Celery).
EnqueueExtraction = Callable[[str, str], None]


class ExtractionService:
    def __init__(self, session: Session, project_id: str, settings: Settings, store: ArtifactStore) -> None:
        self.session = session
        self.project_id = project_id
        self.repo = ExtractionRepository(session, project_id)
        self.settings = settings
        self.store = store

    def submit(
        self, request: ExtractionRequest, runtime: EncoderRuntime, enqueue: EnqueueExtraction
    ) -> Extraction:
        dataset = DatasetService(self.session, self.project_id, self.store, self.settings).resolve(
            request.dataset
        )
        encoders = EncoderService(self.session, self.project_id, self.settings, self.store)
        try:
            resolved = encoders.resolve(request.encoder, runtime)
        except NotFound as exc:
            raise SpecError("/encoder", exc.detail) from None
        options = options_for(
            resolved, request.layer, request.pool, request.normalize, request.precision, self.settings
        )
        problem = resolved.embedder.dataset_problem(dataset.schema)
        if problem is not None:
            raise SpecError("/dataset", f"{resolved.ref} cannot read {dataset.name}: {problem}")
        dim = self._probe(resolved, options, dataset)
        extraction = self.repo.add(
            Extraction(
                id=new_id("ext"),
                encoder=resolved.ref,
                encoder_id=resolved.registered.id if resolved.registered else None,
                dataset_id=dataset.id,
                dataset_sha256=dataset.sha256,
                options={
                    "layer": options.layer,
                    "pool": options.pool,
                    "normalize": options.normalize,
                    "precision": "bf16" if options.bf16 else "fp32",
                },
                device=request.device,
                status="queued",
                max_attempts=self.settings.max_attempts,
                progress={"rows_done": 0, "rows_total": dataset.n_rows},
                dim=dim,
            )
        )
        after_commit(self.session, lambda: enqueue(extraction.id, extraction.device))
        return extraction

    def _probe(self, resolved: Resolved, options: EmbedOptions, dataset: Dataset) -> int | None:
        """Embed the first row as the worker will; the width of a row's vector (None: no rows)."""
        data = load_arrays(dataset, self.store)
        if data.n_rows == 0:
            return None
        try:
            items = resolved.embedder.prepare_rows(data.X[:1])
        except InvalidInput as exc:
            raise SpecError("/dataset", f"row 0 of {dataset.name}: {exc.detail.partition(': ')[2]}") from None
        vectors = resolved.embedder.embed(items, options)
        return int(vectors[0].size)

    def get(self, extraction_id: str) -> Extraction:
        return found(self.repo.get(extraction_id), "extraction", extraction_id)

    def page(self, status: str | None, after: str | None, limit: int) -> tuple[list[Extraction], str | None]:
        """A page of jobs, newest first, and the cursor of the next (None at the end)."""
        return cursor_page(lambda n: self.repo.page(status, after, n), limit, self.settings.page_size_max)

    def cancel(self, extraction_id: str) -> Extraction:
        """A queued job ends at once; a running one becomes `cancelling` and stops after its chunk."""
        extraction = self.get(extraction_id)
        request_cancel(extraction, "extraction")
        self.session.flush()
        return extraction

    def artifacts(self, extraction_id: str) -> Sequence[Artifact]:
        self.get(extraction_id)
        return self.repo.artifacts(extraction_id)

    def artifact(self, extraction_id: str, name: str) -> Artifact:
        for artifact in self.artifacts(extraction_id):
            if artifact.name == name:
                return artifact
        raise NotFound(f"extraction {extraction_id} has no artifact {name!r}")
