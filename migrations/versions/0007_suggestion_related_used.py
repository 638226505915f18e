"""suggestion related used

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    # The related prior messages the draft step put in the context ([{message_id, score}]).
    # Existing suggestions get NULL: not recorded (the console retrieves them again).
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("related_used", _json(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+) rather than batch mode's copy of the table:
    # dropping the old `suggestions` would break the approved answers' foreign keys.
    with op.batch_alter_table("suggestions", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("related_used")
