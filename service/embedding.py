"""What every embedding face (`/v1/encoders/{name}/embed`, OpenAI's `/v1/embeddings`, TEI's `/embed`)
shares: async dependencies with a cached key lookup, and the one embed pipeline (check the inputs,
resolve the encoder, choose the options, prepare the items, batch them with concurrent requests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from anyio import to_thread
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from deepfeat.encoders.embedder import EmbedOptions
from deepfeat.encoders.runtime import EncoderRuntime
from deepfeat.services.auth import Principal
from deepfeat.services.compat import token_items
from deepfeat.services.encoders import EncoderService, Resolved, check_inputs, options_for, pretrained
from deepfeat.services.ref_cache import generation
from service.routing import read_lane
from service.state import AppState

# The embedding path is the hot one: its dependencies are async (service/deps.py caches key lookups),
# and a session is opened only for registered encoders.


async def encoder_runtime(request: Request) -> EncoderRuntime:
    runtime: EncoderRuntime = request.app.state.encoders
    return runtime


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

    hit = state.refs.get(who.project_id, ref)
    if hit is not None:
        return hit
    looked_up_at = generation()
    # On the read lane: 32 lookups at once on the shared pool's 40 threads overflowed the connection
    # pool, and each overflow connection was opened (WAL pragma and all) and closed again.
    resolved = await to_thread.run_sync(lookup, limiter=read_lane())
    state.refs.put(who.project_id, ref, resolved, looked_up_at)
    return resolved


async def prepare(resolved: Resolved, inputs: list[Any]) -> list[Any]:
    """Validate and convert inputs; image decoding is CPU work, so it leaves the event loop."""
    if resolved.embedder.modality == "image":
        return await run_in_threadpool(resolved.embedder.prepare, inputs)
    return resolved.embedder.prepare(inputs)
