"""Corrections: the network's input, the digit it really is, the model and its first guess.

Revision ID: 0001
Revises:
Create Date: 2025-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("label", sa.SmallInteger, nullable=False),
        sa.Column("bits", sa.LargeBinary(98), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("guess", sa.SmallInteger, nullable=True),
        sa.CheckConstraint("label BETWEEN 0 AND 9", name="ck_corrections_label_is_a_digit"),
        sa.CheckConstraint("guess BETWEEN 0 AND 9", name="ck_corrections_guess_is_a_digit"),
        sa.PrimaryKeyConstraint("id", name="pk_corrections"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("corrections")
