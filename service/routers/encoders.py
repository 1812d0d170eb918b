"""/v1/encoders: the catalogue, registering runs as encoders, aliases, and embedding."""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from deepfeat.services.encoders import EncoderService, export_encoder
from deepfeat.services.serving import describe_serving
from deepfeat.specs.encoders import (
    AliasOut,
    AliasRequest,
    EmbedRequest,
    EmbedResponse,
    EncoderDetail,
    EncoderOut,
    EncoderPage,
    RegisterEncoder,
)
from service.deps import EncoderServiceDep, Reader, State, Writer
from service.embedding import Runtime, embed_inputs, resolve
from service.routing import OneHopRoute

router = APIRouter(route_class=OneHopRoute, prefix="/v1/encoders", tags=["encoders"])
# The embed route on its own, so the app tries it among the first (routes are tried in order; see
# service/app.py), ahead of the catalogue and registration routes it would otherwise wait behind.
embed_router = APIRouter(route_class=OneHopRoute, prefix="/v1/encoders", tags=["encoders"])


@router.get("", response_model=EncoderPage)
def list_encoders(
    service: EncoderServiceDep, after: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> EncoderPage:
    """Pretrained encoders (from packages) and the project's registered ones, with their aliases."""
    entries, next_after = service.page(after, limit)
    return EncoderPage(data=entries, next_after=next_after)


@router.get("/{ref}", response_model=EncoderDetail)
async def get_encoder(ref: str, who: Reader, state: State, runtime: Runtime) -> EncoderDetail:
    """One encoder's entry and how this server serves it: engine, device and each precision's cosine
    to fp32 on a fixed probe set (the first call loads it and builds its ONNX graphs: seconds)."""
    resolved = await resolve(ref, who, state, runtime)

    def describe() -> EncoderDetail:
        # The embedding faces' fast path: no request session or thread hop per dependency, a short
        # session of its own in one thread instead (so not `EncoderServiceDep`).
        with state.sessions() as session:
            entry = EncoderService(session, who.project_id, state.settings, state.store).describe(resolved)
        return EncoderDetail(**dict(entry), serving=describe_serving(resolved, runtime))

    return await run_in_threadpool(describe)


@router.post("", status_code=201, response_model=EncoderOut)
def register_encoder(body: RegisterEncoder, _: Writer, service: EncoderServiceDep) -> EncoderOut:
    """Register a succeeded run as `name@version` (1, 2, …); `name@latest` moves to it."""
    return service.register(body.run_id, body.name, body.layer)


@router.post("/{ref}:archive", response_model=EncoderOut)
def archive_encoder(ref: str, _: Writer, service: EncoderServiceDep) -> EncoderOut:
    """Archive a version (`name@3`): hidden from lists, refused as an encoder; 409 while an alias other
    than `latest` points at it. Its run can then be deleted to free the weights."""
    return service.archive(ref)


@router.post("/{name}/aliases", response_model=AliasOut)
def set_alias(name: str, body: AliasRequest, _: Writer, service: EncoderServiceDep) -> AliasOut:
    """Point `name@alias` (e.g. `prod`) at a version; moving it is how a rollout or rollback happens."""
    service.set_alias(name, body.alias, body.version)
    return AliasOut(name=name, alias=body.alias, version=body.version)


@router.get(
    "/{ref}/export",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}, "description": "model file + spec.json"},
        501: {"description": "`onnx` asked for and the server lacks the onnx packages"},
    },
)
def export(
    ref: str,
    service: EncoderServiceDep,
    runtime: Runtime,
    format: Annotated[Literal["safetensors", "onnx"], Query()] = "safetensors",
) -> Response:
    """A registered encoder as a zip: `model.safetensors` (the run's weights) or `model.onnx` (the
    encoder part only, outputs as `/embed` with its defaults), plus `spec.json` (run spec, input
    schema, layer, dim)."""
    filename, content = export_encoder(service, ref, format, runtime)
    return Response(
        content,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-SHA256": hashlib.sha256(content).hexdigest(),
        },
    )


@embed_router.post(
    "/{name}/embed",
    response_model=EmbedResponse,
    responses={413: {"description": "too many inputs or too large"}, 429: {"description": "queue full"}},
)
async def embed(name: str, body: EmbedRequest, who: Reader, state: State, runtime: Runtime) -> EmbedResponse:
    """Embeddings of `inputs` from `name`, `name@3` or `name@prod`; coalesced with concurrent requests."""
    done = await embed_inputs(
        name,
        body.inputs,
        who,
        state,
        runtime,
        layer=body.layer,
        pool=body.pool,
        normalize=body.normalize,
        precision=body.precision,
    )
    resolved, options, vectors = done.resolved, done.options, done.vectors
    return EmbedResponse(
        embeddings=[v.tolist() for v in vectors],
        dim=int(vectors[0].shape[-1]),
        model=resolved.ref,
        version=resolved.version,
        layer=options.layer,
        pool=options.pool,
        normalized=options.normalize,
        precision=options.precision or state.settings.embed_precision,
    )
