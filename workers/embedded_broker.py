"""The embedded broker: kombu's SQLAlchemy transport on a SQLite file, polled often enough to feel live.

kombu hands every transport option of this transport to `create_engine`, so the polling interval cannot
travel as an option; a subclass sets it instead, registered under the usual `sqla` scheme.
"""

from __future__ import annotations

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Transport as SQLAlchemyTransport

POLLING_INTERVAL_S = 0.1  # kombu's default of 1 s adds up to a second to every submit → start


class Transport(SQLAlchemyTransport):
    polling_interval = POLLING_INTERVAL_S


def register() -> None:
    TRANSPORT_ALIASES["sqla"] = f"{__name__}:Transport"
