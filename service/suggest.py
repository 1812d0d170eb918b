""" "Did you mean `hidden`?" for a misspelt field: the known fields at the error's place, found by
walking the route's body model along pydantic's `loc` (union tags such as `mlp` pick the member)."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel


def closest_field(body_model: Any, loc: Sequence[str | int]) -> str | None:
    """The known field nearest to the unknown last part of `loc` (which starts after "body")."""
    if not loc or not isinstance(loc[-1], str):
        return None
    names = _fields_at(body_model, loc[:-1])
    found = difflib.get_close_matches(loc[-1], sorted(names), n=1, cutoff=0.6)
    return found[0] if found else None


def _fields_at(annotation: Any, path: Sequence[str | int]) -> set[str]:
    current: list[Any] = [annotation]
    for part in path:
        current = [nxt for t in current for nxt in _step(t, part)]
    names: set[str] = set()
    for t in current:
        for model in _models(t):
            names |= {field.alias or name for name, field in model.model_fields.items()}
    return names


def _members(annotation: Any) -> list[Any]:
    """A type without Annotated/Optional/Union wrapping, as its alternatives."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [annotation]


def _models(annotation: Any) -> list[type[BaseModel]]:
    return [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]


def _step(annotation: Any, part: str | int) -> list[Any]:
    out: list[Any] = []
    for member in _members(annotation):
        origin = typing.get_origin(member)
        if isinstance(part, int) and origin in (list, tuple, Sequence):
            out += list(typing.get_args(member)[:1])
        elif isinstance(member, type) and issubclass(member, BaseModel):
            field = member.model_fields.get(str(part))
            if field is not None:
                out.append(field.annotation)
            elif _tagged(member, part):
                out.append(member)  # a discriminated union's tag: stay on this member
        elif origin is dict:
            out += list(typing.get_args(member)[1:2])
    return out


def _tagged(model: type[BaseModel], tag: str | int) -> bool:
    for field in model.model_fields.values():
        if typing.get_origin(field.annotation) is typing.Literal and tag in typing.get_args(field.annotation):
            return True
    return False
