"""The two subject databases (R§3): legal persons keyed by the unified social credit code, natural persons
by the resident ID. Identifiers are validated, stored encrypted with a blind index, and shown masked."""

from fincredit.platform.subjects._store import (
    SubjectView,
    blind_index,
    find_subject,
    find_subjects,
    may_see_full_identifier,
    parse_identifier,
    register_subject,
    subject_name,
    subject_names,
    view_subject,
)

__all__ = [
    "SubjectView",
    "blind_index",
    "find_subject",
    "find_subjects",
    "may_see_full_identifier",
    "parse_identifier",
    "register_subject",
    "subject_name",
    "subject_names",
    "view_subject",
]
