"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from deepfeat.data.schema import DatasetSchema

# JSONB on PostgreSQL (indexable, compact), plain JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class DatasetSchemaType(TypeDecorator[DatasetSchema]):
    """A dataset's schema: the same JSON column as before, parsed once into `DatasetSchema` when the row
    is read (and dumped key for key as it was written, so stored rows and API answers do not change)."""

    impl = JSONType
    cache_ok = True

    def process_bind_param(self, value: DatasetSchema | None, dialect: Dialect) -> Any:
        return None if value is None else value.model_dump(mode="json")

    def process_result_value(self, value: Any, dialect: Dialect) -> DatasetSchema | None:
        return None if value is None else DatasetSchema.model_validate(value)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python everywhere; SQLite has no time zones, so it stores naive UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# The widest integers the schema stores: INTEGER columns (versions) and BIGINT ids (events). A number
# from a request beyond them can match nothing, and would make the driver raise instead of answer.
MAX_INT = 2**31 - 1
MAX_BIGINT = 2**63 - 1


def db_int(text: str, limit: int = MAX_INT) -> int | None:
    """`text` as an integer a column can hold, or None when it cannot (so the lookup finds nothing)."""
    value = int(text)
    return value if 0 <= value <= limit else None
