"""The Python client: every deepfeat route as a method, answers typed with the server's own models.

    from deepfeat.client import Client
    with Client("http://127.0.0.1:8000", key="df_...") as df:
        dataset = df.create_builtin("digits")
        run = df.submit("examples/mlp-digits.json")
        run = df.wait(run.id, on_progress=lambda r: print(r.progress))

Failures raise `DeepfeatAPIError` (the server's `{error, detail, loc}`) or `ServerUnreachable`; both
derive from `ClientError`, so a notebook or the CLI can catch one type. 429 and 503 answers are
retried (tenacity), waiting what `Retry-After` says. `AsyncClient` has the same methods, awaited.
"""

from deepfeat.client.aio import AsyncClient
from deepfeat.client.api import Client
from deepfeat.client.errors import (
    ClientError,
    DeepfeatAPIError,
    ServerUnreachable,
    SpecFileError,
    WaitTimeout,
)
from deepfeat.client.local import DEFAULT_URL, SpecLike, default_key, load_spec
from deepfeat.client.models import ArtifactOut, Embeddings, EncoderOut, ExtractionOut, KeyOut

__all__ = [
    "DEFAULT_URL",
    "ArtifactOut",
    "AsyncClient",
    "Client",
    "ClientError",
    "DeepfeatAPIError",
    "Embeddings",
    "EncoderOut",
    "ExtractionOut",
    "KeyOut",
    "ServerUnreachable",
    "SpecFileError",
    "SpecLike",
    "WaitTimeout",
    "default_key",
    "load_spec",
]
