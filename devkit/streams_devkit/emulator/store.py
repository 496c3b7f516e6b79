"""The emulator's state: current conversation marks plus an append-only log of every applied write.

SQLite (one connection, WAL) so the state survives an emulator restart -- tests restart it to
prove the pipeline's outcomes match what the server really holds -- and so the write log gives
an exact, ordered record of what was applied, by which request, to compare against outcomes.
The class is synchronous on purpose: every call is a short local query, and the server runs one
request's checks and writes without awaiting in between, so each request applies atomically.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS marks (
    user TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    custom_data TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (user, conversation_id)
);
CREATE TABLE IF NOT EXISTS writes (
    seq INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    user TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    custom_data TEXT NOT NULL,
    request_id TEXT
);
CREATE INDEX IF NOT EXISTS writes_by_user ON writes (user, seq);
"""


@dataclass(frozen=True, slots=True)
class Mark:
    """A conversation's current non-empty custom mark."""

    conversation_id: str
    custom_data: str
    updated_at: float


@dataclass(frozen=True, slots=True)
class Write:
    """One applied write, as logged (``custom_data`` "" is a clear)."""

    at: float
    user: str
    conversation_id: str
    custom_data: str
    request_id: str | None

    def as_json(self) -> dict[str, object]:
        """The record exposed by ``GET /debug/writes``."""
        return asdict(self)


class MarkStore:
    """Marks and write log in one SQLite file; callers group writes with :meth:`transaction`."""

    def __init__(self, path: Path) -> None:
        # isolation_level=None: transactions are explicit (see transaction()), never implicit.
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # Commits survive a crash of the emulator (WAL), without an fsync per request: the
        # emulator answers many requests per second on one thread.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection; committed state stays in the file."""
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit everything done inside on success, roll all of it back on an exception."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def set_mark(
        self,
        user: str,
        conversation_id: str,
        custom_data: str,
        *,
        at: float,
        request_id: str | None,
    ) -> None:
        """Apply one write and log it; an empty ``custom_data`` removes the mark."""
        if custom_data:
            self._conn.execute(
                "INSERT INTO marks (user, conversation_id, custom_data, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (user, conversation_id)"
                " DO UPDATE SET custom_data = excluded.custom_data,"
                " updated_at = excluded.updated_at",
                (user, conversation_id, custom_data, at),
            )
        else:
            self._conn.execute(
                "DELETE FROM marks WHERE user = ? AND conversation_id = ?", (user, conversation_id)
            )
        self._conn.execute(
            "INSERT INTO writes (at, user, conversation_id, custom_data, request_id)"
            " VALUES (?, ?, ?, ?, ?)",
            (at, user, conversation_id, custom_data, request_id),
        )

    def is_marked(self, user: str, conversation_id: str) -> bool:
        """Whether the conversation currently has a non-empty mark."""
        row = self._conn.execute(
            "SELECT 1 FROM marks WHERE user = ? AND conversation_id = ?", (user, conversation_id)
        ).fetchone()
        return row is not None

    def count_marked(self, user: str) -> int:
        """How many conversations of ``user`` carry a non-empty mark (the 1000 cap counts these)."""
        (count,) = self._conn.execute(
            "SELECT COUNT(*) FROM marks WHERE user = ?", (user,)
        ).fetchone()
        return int(count)

    def marks(self, user: str, *, offset: int = 0, limit: int = -1) -> list[Mark]:
        """The user's marks ordered by conversation id (stable across updates, so pages hold)."""
        rows = self._conn.execute(
            "SELECT conversation_id, custom_data, updated_at FROM marks WHERE user = ?"
            " ORDER BY conversation_id LIMIT ? OFFSET ?",
            (user, limit, offset),
        )
        return [Mark(*row) for row in rows]

    def writes(self, user: str | None = None) -> list[Write]:
        """Applied writes in apply order, for one user or (``None``) everybody."""
        rows = self._conn.execute(
            "SELECT at, user, conversation_id, custom_data, request_id FROM writes"
            " WHERE ?1 IS NULL OR user = ?1 ORDER BY seq",
            (user,),
        )
        return [Write(*row) for row in rows]
