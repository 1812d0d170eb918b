"""The client's project routes (deployment admin), kept apart from the run and encoder routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from pydantic import BaseModel

from deepfeat.client.models import KeyOut
from deepfeat.specs.projects import ProjectOut

M = TypeVar("M", bound=BaseModel)


class ProjectsAPI:
    """Mixed into Client: it provides `_json` and `_pages`."""

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    def _pages(self, path: str, model: type[M], page_size: int, **params: Any) -> Iterator[M]:
        raise NotImplementedError

    def create_project(self, name: str) -> ProjectOut:
        """A new project (needs an admin key of the `default` project)."""
        return ProjectOut.model_validate(self._json("POST", "/v1/projects", json={"name": name}))

    def projects(self, *, page_size: int = 100) -> Iterator[ProjectOut]:
        return self._pages("/v1/projects", ProjectOut, page_size)

    def project(self, ref: str) -> ProjectOut:
        """A project by id or name, with its storage use."""
        return ProjectOut.model_validate(self._json("GET", f"/v1/projects/{ref}"))

    def create_project_key(self, ref: str, name: str = "", *, scope: str = "admin") -> KeyOut:
        """A key of another project; its secret is in `.key` and shown only once."""
        body = {"name": name, "scope": scope}
        return KeyOut.model_validate(self._json("POST", f"/v1/projects/{ref}/keys", json=body))

    def project_keys(self, ref: str) -> list[KeyOut]:
        return [KeyOut.model_validate(k) for k in self._json("GET", f"/v1/projects/{ref}/keys")["data"]]
