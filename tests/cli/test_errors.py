"""Every failure the CLI can meet becomes one line that says what to do, and a distinct exit code."""

from __future__ import annotations

import pytest

from deepfeat.cli.output import Exit, describe
from deepfeat.client import DeepfeatAPIError, ServerUnreachable, SpecFileError

URL = "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("exc", "code", "says"),
    [
        (ServerUnreachable(URL, "connection refused"), Exit.UNREACHABLE, "is `deepfeat up` running?"),
        (DeepfeatAPIError(401, "unauthorized", "invalid or revoked API key"), Exit.AUTH, "DEEPFEAT_API_KEY"),
        (DeepfeatAPIError(403, "forbidden", "this key has scope 'read'"), Exit.AUTH, "scope"),
        (DeepfeatAPIError(404, "not_found", "run 'r1' not found"), Exit.NOT_FOUND, "deepfeat runs list"),
        (DeepfeatAPIError(404, "not_found", "dataset 'd' not found"), Exit.NOT_FOUND, "datasets list"),
        (DeepfeatAPIError(404, "not_found", "Not Found"), Exit.NOT_FOUND, "does not offer this yet"),
        (DeepfeatAPIError(405, "method_not_allowed", "Method Not Allowed"), Exit.NOT_FOUND, "not offer"),
        (DeepfeatAPIError(409, "conflict", "run r1 is already succeeded"), Exit.CONFLICT, "already"),
        (
            DeepfeatAPIError(422, "invalid_spec", "/model/hidden/0: must be ≥ 1", "/model/hidden/0"),
            Exit.INVALID,
            "invalid spec at /model/hidden/0: must be ≥ 1 (422",
        ),
        (DeepfeatAPIError(413, "payload_too_large", "over 1 GiB"), Exit.INVALID, "over 1 GiB"),
        (DeepfeatAPIError(500, "internal", "internal error"), Exit.FAILED, "the server failed"),
        (SpecFileError("cannot read spec x.yaml: No such file"), Exit.USAGE, "x.yaml"),
    ],
)
def test_each_failure_is_one_line_with_its_exit_code(exc: Exception, code: int, says: str) -> None:
    assert isinstance(exc, ServerUnreachable | DeepfeatAPIError | SpecFileError)
    message, exit_code = describe(exc, URL)
    assert exit_code == code
    assert says in message
    assert "\n" not in message
