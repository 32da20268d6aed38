"""The tables as the latest migration leaves them: what the queries are written against.

The migrations in `migrations/versions/` are the schema's history and create these; a change here goes
with a new migration.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
)

INPUT_BYTES = 98  # the network's 28x28 input, one bit a pixel, packed 8 to a byte (numpy.packbits)
MODEL_NAME_LENGTH = 64

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# One drawing a person labelled: what the network saw, the digit it really is, and what the model said.
corrections = Table(
    "corrections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("label", SmallInteger, nullable=False),
    Column("bits", LargeBinary(INPUT_BYTES), nullable=False),
    Column("model", String(MODEL_NAME_LENGTH), nullable=False),
    Column("guess", SmallInteger, nullable=True),  # the guess the person saw (the model's first by default)
    # The model's own best guesses on the input, [[digit, probability], ...] best first; null before 0002.
    Column("guesses", JSON, nullable=True),
    CheckConstraint("label BETWEEN 0 AND 9", name="label_is_a_digit"),
    CheckConstraint("guess BETWEEN 0 AND 9", name="guess_is_a_digit"),
    Index("ix_corrections_label", "label"),
    sqlite_autoincrement=True,  # a deleted correction's id is never given to a new one
)

# Corrections saved per client in each fixed window of time, for the rate limit every worker and replica
# shares. `client` is a keyed hash of the address and the window, never the address; rows are deleted once
# their window has passed.
correction_quotas = Table(
    "correction_quotas",
    metadata,
    Column("client", String(64), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),  # Unix seconds
    Column("count", Integer, nullable=False),
    Index("ix_correction_quotas_window_start", "window_start"),
)

# Random values made once per database by the migrations: `client_key` hashes client addresses.
secrets = Table(
    "secrets",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", String(128), nullable=False),
)
