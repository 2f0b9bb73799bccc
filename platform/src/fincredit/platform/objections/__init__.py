"""Objections to credit records (R§10): filing, the platform's 3-working-day check, the provider's
10-working-day answer (extendable once by at most 15), correction or confirmation, notification of the
banks that received the record, an append-only trail of every step with its deadline, overdue lists.
"""

from ._workflow import (
    MAX_EXTENSION_DAYS,
    PLATFORM_CHECK_DAYS,
    PROVIDER_ANSWER_DAYS,
    EventView,
    ObjectionStatus,
    ObjectionView,
    Status,
    Step,
    add_recipients_resolver,
    content_hash,
    correct_record,
    extend_provider_deadline,
    file_objection,
    get_objection,
    list_objections,
    note_disclosure,
    objection_status,
    on_objection_event,
    outbox,
    overdue_objections,
    platform_check,
    provider_answer,
)

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
    "objection_status",
    "on_objection_event",
    "outbox",
    "overdue_objections",
    "platform_check",
    "provider_answer",
]
