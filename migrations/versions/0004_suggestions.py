"""suggestions and approved answers

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "suggestions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("team", sa.String(length=100), nullable=True),
        sa.Column("intent", sa.String(length=100), nullable=True),
        sa.Column("priority", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("draft_text", sa.Text(), nullable=False),
        sa.Column("final_text", sa.Text(), nullable=True),
        sa.Column("drafter", sa.String(length=20), nullable=False),
        sa.Column("prompt_id", sa.String(length=100), nullable=True),
        sa.Column("prompt_version", sa.Integer(), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("kb_version", sa.Integer(), nullable=True),
        sa.Column("cited_chunks", _json(), nullable=False),
        sa.Column("facts_used", _json(), nullable=False),
        sa.Column("flags", _json(), nullable=False),
        sa.Column("needs_human", sa.Boolean(), nullable=False),
        sa.Column("fallback_reason", sa.Text(), nullable=True),
        sa.Column("approved_answer_id", sa.String(length=32), nullable=True),
        sa.Column("acknowledged_message_id", sa.String(length=32), nullable=True),
        sa.Column("question_vector", _json(), nullable=True),
        sa.Column("edit_distance", sa.Integer(), nullable=True),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("outbound_message_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_suggestions_message_id_messages")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_suggestions_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_suggestions_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestions")),
        sa.UniqueConstraint("message_id", name=op.f("uq_suggestions_message_id")),
    )
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suggestions_customer_id"), ["customer_id"])
        batch_op.create_index(batch_op.f("ix_suggestions_team"), ["team"])
        batch_op.create_index(batch_op.f("ix_suggestions_status"), ["status"])

    op.create_table(
        "approved_answers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("suggestion_id", sa.String(length=32), nullable=False),
        sa.Column("intent", sa.String(length=100), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("question_vector", _json(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("chunk_ids", _json(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["suggestion_id"],
            ["suggestions.id"],
            name=op.f("fk_approved_answers_suggestion_id_suggestions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approved_answers")),
        sa.UniqueConstraint("suggestion_id", name=op.f("uq_approved_answers_suggestion_id")),
    )
    with op.batch_alter_table("approved_answers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approved_answers_intent"), ["intent"])


def downgrade() -> None:
    op.drop_table("approved_answers")
    op.drop_table("suggestions")
