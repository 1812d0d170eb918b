"""What every embedding face (`/v1/encoders/{name}/embed`, OpenAI's `/v1/embeddings`, TEI's `/embed`)
shares: async dependencies with a cached key lookup, and the one embed pipeline (check the inputs,
resolve the encoder, choose the options, prepare the items, batch them with concurrent requests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from deepfeat.encoders.embedder import EmbedOptions
from deepfeat.encoders.runtime import EncoderRuntime
from deepfeat.services.auth import KeyCache, Principal, authenticate, hash_key
from deepfeat.services.compat import token_items
from deepfeat.services.encoders import EncoderService, Resolved, check_inputs, options_for, pretrained
from deepfeat.services.signals import RevocationSignal
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
    state: AppState = request.app.state.deepfeat
    # Per app, not per module: another app in the same process may have another database.
    cache: KeyCache | None = getattr(request.app.state, "key_cache", None)
    if cache is None:
        cache = request.app.state.key_cache = KeyCache(AUTH_TTL_S)
    signal: RevocationSignal | None = getattr(request.app.state, "revocation", None)
    if signal is None:
        signal = request.app.state.revocation = RevocationSignal(state.settings, state.sessions)
    stamp = signal.stamp()  # read before the lookup: a revoke after it shows next time
    hit = cache.get(digest, stamp)
    if hit is not None:
        state.limiter.check(hit.key_id)
        return hit

    def lookup() -> Principal:
        with state.sessions() as session:
            return authenticate(session, raw)

    who = await run_in_threadpool(lookup)
    cache.put(digest, who, stamp)
    state.limiter.check(who.key_id)
    return who


FastState = Annotated[AppState, Depends(fast_state)]
FastReader = Annotated[Principal, Depends(cached_reader)]


Runtime = Annotated[EncoderRuntime, Depends(encoder_runtime)]


@dataclass(frozen=True)
class Embedded:
    resolved: Resolved
    options: EmbedOptions
    vectors: list[Any]
    tokens: int  # what the inputs cost (text: tokens; otherwise one per input)


async def embed_inputs(
    ref: str,
    inputs: list[Any],
    who: Principal,
    state: AppState,
    runtime: EncoderRuntime,
    *,
    layer: str | None = None,
    pool: str | None = None,
    normalize: bool | None = None,
    precision: str | None = None,
    token_ids: bool = False,
    check: Callable[[Resolved], None] | None = None,
) -> Embedded:
    """The embed pipeline, once for every face: `token_ids` takes ids of the encoder's own tokenizer,
    `check` refuses what a face refuses (TEI's `truncate: false` on a long input) before any work."""
    check_inputs(inputs, state.settings)
    resolved = await resolve(ref, who, state, runtime)
    options = options_for(resolved, layer, pool, normalize, precision, state.settings)
    if check is not None:
        check(resolved)
    items = (
        list(token_items(resolved.embedder, inputs, resolved.ref))
        if token_ids
        else await prepare(resolved, inputs)
    )
    vectors = await runtime.embed(
        resolved.key, resolved.embedder, items, options, resolved.layer
    )  # QueueFull: 429
    return Embedded(resolved, options, vectors, resolved.embedder.tokens(items))


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
