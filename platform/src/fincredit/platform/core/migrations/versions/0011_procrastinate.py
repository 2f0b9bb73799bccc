"""The job queue of ``fincredit worker``: procrastinate's tables, functions and triggers (PostgreSQL only;
on SQLite there is no worker and nothing to create).

The schema is procrastinate 3.10.0's, frozen beside the migrations (``procrastinate_3_10_0.sql``) so this
revision creates the same objects whatever procrastinate is installed later.

Revision ID: 0011_procrastinate
Revises: 0010_change_epochs
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0011_procrastinate"
down_revision = "0010_change_epochs"
branch_labels = None
depends_on = None

SCHEMA = Path(__file__).parent.parent / "procrastinate_3_10_0.sql"

_DROP = """
DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs,
    procrastinate_workers CASCADE;
DO $$
DECLARE f record;
BEGIN
    FOR f IN SELECT p.oid::regprocedure AS signature
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
    LOOP
        EXECUTE 'DROP FUNCTION ' || f.signature || ' CASCADE';
    END LOOP;
END;
$$;
DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type, procrastinate_job_status;
"""


def _execute_script(sql: str) -> None:
    # The script holds several statements and literal % signs: sent to the server as it is, without
    # parameter parsing, inside the migration's transaction.
    dbapi = op.get_bind().connection.driver_connection
    assert dbapi is not None
    dbapi.execute(sql)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _execute_script(SCHEMA.read_text(encoding="utf-8"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _execute_script(_DROP)
