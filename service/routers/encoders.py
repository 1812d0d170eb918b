"""/v1/encoders: the catalogue, registering runs as encoders, aliases, and embedding."""

from __future__ import annotations

import hashlib
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from deepfeat.encoders.runtime import EncoderRuntime
from deepfeat.services.auth import Principal, authenticate, hash_key
from deepfeat.services.encoders import (
    EncoderService,
    Resolved,
    check_inputs,
    export_encoder,
    options_for,
    pretrained,
)
from deepfeat.services.serving import describe_serving
from deepfeat.services.signals import RevocationSignal
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
from service.deps import DbSession, Reader, State, Writer
from service.state import AppState

# The embedding path is the hot one: every sync dependency is a thread-pool hop and every session a
# SQLite transaction, which capped a 2-core machine near 190 authenticated requests/s before any model
# ran. So its dependencies are async, a key's lookup is cached for AUTH_TTL_S, and a session is opened
# only for registered encoders. A revocation reaches the cache at once: a cached key is trusted only
# while the revocation stamp (a file's inode on one host, a Redis counter on many) is what it was.
AUTH_TTL_S = 5.0
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer df_...`")


async def encoder_runtime(request: Request) -> EncoderRuntime:
    runtime: EncoderRuntime = request.app.state.encoders
    return runtime


async def fast_state(request: Request) -> AppState:
    state: AppState = request.app.state.deepfeat
    return state


async def cached_reader(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    raw = credentials.credentials if credentials else None
    digest = hash_key(raw) if raw else ""
    # Per app, not per module: another app in the same process may have another database.
    cache: dict[str, tuple[Principal, float, str | None]] = request.app.state.encoders.auth_cache
    state: AppState = request.app.state.deepfeat
    signal: RevocationSignal | None = getattr(request.app.state, "revocation", None)
    if signal is None:
        signal = request.app.state.revocation = RevocationSignal(state.settings, state.sessions)
    stamp = signal.stamp()  # read before the lookup: a revoke after it shows next time
    hit = cache.get(digest)
    if hit is not None and stamp is not None and hit[1] > time.monotonic() and hit[2] == stamp:
        state.limiter.check(hit[0].key_id)
        return hit[0]

    def lookup() -> Principal:
        with state.sessions() as session:
            return authenticate(session, raw)

    who = await run_in_threadpool(lookup)
    if len(cache) > 10_000:
        cache.clear()
    cache[digest] = (who, time.monotonic() + AUTH_TTL_S, stamp)
    state.limiter.check(who.key_id)
    return who


FastState = Annotated[AppState, Depends(fast_state)]
FastReader = Annotated[Principal, Depends(cached_reader)]


Runtime = Annotated[EncoderRuntime, Depends(encoder_runtime)]
router = APIRouter(prefix="/v1/encoders", tags=["encoders"])


async def resolve(ref: str, who: Principal, state: AppState, runtime: EncoderRuntime) -> Resolved:
    """A pretrained encoder straight from the catalogue; a registered one through the database."""
    found = pretrained(ref)
    if found is not None:
        return found

    def lookup() -> Resolved:
        with state.sessions() as session:
            service = EncoderService(session, who.project_id, state.settings, state.store)
            return service.resolve(ref, runtime)

    return await run_in_threadpool(lookup)


async def prepare(resolved: Resolved, inputs: list[Any]) -> list[Any]:
    """Validate and convert inputs; image decoding is CPU work, so it leaves the event loop."""
    if resolved.embedder.modality == "image":
        return await run_in_threadpool(resolved.embedder.prepare, inputs)
    return resolved.embedder.prepare(inputs)


@router.get("", response_model=EncoderPage)
def list_encoders(
    who: Reader,
    session: DbSession,
    state: State,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> EncoderPage:
    """Pretrained encoders (from packages) and the project's registered ones, with their aliases."""
    service = EncoderService(session, who.project_id, state.settings, state.store)
    entries, next_after = service.page(after, limit)
    return EncoderPage(data=[EncoderOut.model_validate(e) for e in entries], next_after=next_after)


@router.get("/{ref}", response_model=EncoderDetail)
async def get_encoder(ref: str, who: FastReader, state: FastState, runtime: Runtime) -> EncoderDetail:
    """One encoder's entry and how this server serves it: engine, device and each precision's cosine
    to fp32 on a fixed probe set (the first call loads it and builds its ONNX graphs: seconds)."""
    resolved = await resolve(ref, who, state, runtime)

    def describe() -> EncoderDetail:
        with state.sessions() as session:
            entry = EncoderService(session, who.project_id, state.settings, state.store).describe(resolved)
        return EncoderDetail.model_validate({**entry, "serving": describe_serving(resolved, runtime)})

    return await run_in_threadpool(describe)


@router.post("", status_code=201, response_model=EncoderOut)
def register_encoder(body: RegisterEncoder, who: Writer, session: DbSession, state: State) -> EncoderOut:
    """Register a succeeded run as `name@version` (1, 2, …); `name@latest` moves to it."""
    service = EncoderService(session, who.project_id, state.settings, state.store)
    return EncoderOut.model_validate(service.register(body.run_id, body.name, body.layer))


@router.post("/{ref}:archive", response_model=EncoderOut)
def archive_encoder(ref: str, who: Writer, session: DbSession, state: State) -> EncoderOut:
    """Archive a version (`name@3`): hidden from lists, refused as an encoder; 409 while an alias other
    than `latest` points at it. Its run can then be deleted to free the weights."""
    service = EncoderService(session, who.project_id, state.settings, state.store)
    return EncoderOut.model_validate(service.archive(ref))


@router.post("/{name}/aliases", response_model=AliasOut)
def set_alias(name: str, body: AliasRequest, who: Writer, session: DbSession, state: State) -> AliasOut:
    """Point `name@alias` (e.g. `prod`) at a version; moving it is how a rollout or rollback happens."""
    EncoderService(session, who.project_id, state.settings, state.store).set_alias(
        name, body.alias, body.version
    )
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
    who: Reader,
    session: DbSession,
    state: State,
    runtime: Runtime,
    format: Annotated[Literal["safetensors", "onnx"], Query()] = "safetensors",
) -> Response:
    """A registered encoder as a zip: `model.safetensors` (the run's weights) or `model.onnx` (the
    encoder part only, outputs as `/embed` with its defaults), plus `spec.json` (run spec, input
    schema, layer, dim)."""
    service = EncoderService(session, who.project_id, state.settings, state.store)
    filename, content = export_encoder(service, ref, format, runtime)
    return Response(
        content,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-SHA256": hashlib.sha256(content).hexdigest(),
        },
    )


@router.post(
    "/{name}/embed",
    response_model=EmbedResponse,
    responses={413: {"description": "too many inputs or too large"}, 429: {"description": "queue full"}},
)
async def embed(
    name: str, body: EmbedRequest, who: FastReader, state: FastState, runtime: Runtime
) -> EmbedResponse:
    """Embeddings of `inputs` from `name`, `name@3` or `name@prod`; coalesced with concurrent requests."""
    settings = state.settings
    check_inputs(body.inputs, settings)
    resolved = await resolve(name, who, state, runtime)
    options = options_for(resolved, body.layer, body.pool, body.normalize, body.precision, settings)
    items = await prepare(resolved, body.inputs)
    vectors = await runtime.embed(
        resolved.key, resolved.embedder, items, options, resolved.layer
    )  # QueueFull: 429
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
