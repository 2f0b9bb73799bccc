"""Objections to credit records (R§10): filing, the platform's 3-working-day check, the provider's
10-working-day answer (extendable once by at most 15), correction or confirmation, notification of the
banks that received the record, an append-only trail of every step with its deadline, overdue lists.
"""

from fincredit.platform.objections._correction import content_hash, correct_record
from fincredit.platform.objections._deadlines import overdue_objections, record_missed_deadlines
from fincredit.platform.objections._filing import file_objection
from fincredit.platform.objections._queries import (
    get_objection,
    list_objections,
    objection_status,
    objection_status_of,
)
from fincredit.platform.objections._review import extend_provider_deadline, platform_check, provider_answer
from fincredit.platform.objections._states import (
    MAX_EXTENSION_DAYS,
    PLATFORM_CHECK_DAYS,
    PROVIDER_ANSWER_DAYS,
    Status,
    Step,
)
from fincredit.platform.objections._trail import (
    add_recipients_resolver,
    note_disclosure,
    note_disclosures,
    on_objection_event,
    outbox,
)
from fincredit.platform.objections._views import EventView, ObjectionStatus, ObjectionView

__all__ = [
    "MAX_EXTENSION_DAYS",
    "PLATFORM_CHECK_DAYS",
    "PROVIDER_ANSWER_DAYS",
    "EventView",
    "ObjectionStatus",
    "ObjectionView",
    "Status",
    "Step",
    "add_recipients_resolver",
    "content_hash",
    "correct_record",
    "extend_provider_deadline",
    "file_objection",
    "get_objection",
    "list_objections",
    "note_disclosure",
    "note_disclosures",
    "objection_status",
    "objection_status_of",
    "on_objection_event",
    "outbox",
    "overdue_objections",
    "platform_check",
    "provider_answer",
    "record_missed_deadlines",
]
