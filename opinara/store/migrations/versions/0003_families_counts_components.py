"""product families (variants), review counts per product, analysis components, per-key redaction

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "product_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "external_id", name="uq_variants_source_external"),
    )
    with op.batch_alter_table("product_variants", schema=None) as batch_op:
        batch_op.create_index("ix_variants_product", ["product_id"], unique=False)
    # Every existing product is its own family's only variant until reviews say otherwise.
    op.execute(
        "INSERT INTO product_variants (product_id, source, external_id) SELECT id, source, external_id FROM products"
    )

    op.create_table(
        "product_review_counts",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("reviews", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("product_id", "reason"),
    )
    op.execute(
        "INSERT INTO product_review_counts (product_id, reason, reviews) "
        "SELECT product_id, 'stored', count(*) FROM reviews GROUP BY product_id"
    )
    op.execute(
        "INSERT INTO product_review_counts (product_id, reason, reviews) "
        "SELECT product_id, 'counted', count(*) FROM reviews WHERE quality_score >= 0.5 GROUP BY product_id"
    )

    with op.batch_alter_table("analyses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("component", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("aspects_component", sa.String(length=64), nullable=True))

    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("redact_pii", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("redact_pii")
    with op.batch_alter_table("analyses", schema=None) as batch_op:
        batch_op.drop_column("aspects_component")
        batch_op.drop_column("component")
    op.drop_table("product_review_counts")
    with op.batch_alter_table("product_variants", schema=None) as batch_op:
        batch_op.drop_index("ix_variants_product")
    op.drop_table("product_variants")
