"""The model's guesses with their probabilities beside each correction; per-client counts for the rate limit,
and the key that hashes client addresses for it.

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-01
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("corrections", sa.Column("guesses", sa.JSON, nullable=True))
    op.create_index("ix_corrections_label", "corrections", ["label"])
    op.create_table(
        "correction_quotas",
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("window_start", sa.BigInteger, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("client", "window_start", name="pk_correction_quotas"),
    )
    op.create_index("ix_correction_quotas_window_start", "correction_quotas", ["window_start"])
    keys = op.create_table(
        "secrets",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_secrets"),
    )
    op.bulk_insert(keys, [{"name": "client_key", "value": secrets.token_hex(32)}])


def downgrade() -> None:
    op.drop_table("secrets")
    op.drop_index("ix_correction_quotas_window_start", "correction_quotas")
    op.drop_table("correction_quotas")
    op.drop_index("ix_corrections_label", "corrections")
    with op.batch_alter_table("corrections") as batch:
        batch.drop_column("guesses")
