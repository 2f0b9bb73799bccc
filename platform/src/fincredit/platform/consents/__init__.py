"""The consent ledger inside the platform: consents in the database, the one access gate
(:func:`authorize_access`), the ledger with its SQL Merkle tree store, checkpoints, proofs and export.

The rules themselves (artefact, lifecycle, decision, entries, RFC 9162 tree, C2SP checkpoints, receipts)
are ``fincredit.consent``'s; this package stores them and wires them into transactions.
"""

from fincredit.platform.consents._access import (
    AccessAsk,
    AccessBatch,
    Allowed,
    Outcome,
    SubjectDecision,
    authorize_access,
    authorize_many,
    check_access,
    record_disclosure,
)
from fincredit.platform.consents._ledger import (
    SqlTreeStore,
    append,
    checkpoint_at,
    consistency_proof,
    inclusion_proof,
    latest_checkpoint,
    lock_head,
    note_signer,
    read_size,
    root,
    subject_indexer,
)
from fincredit.platform.consents._manage import (
    ACTIONS,
    RecordedGrant,
    act_on_consent,
    consent_view,
    expire_due,
    get_held_consent,
    get_own_consent,
    issue_receipt,
    receipt_kid,
    record_grants,
    request_consent,
)
from fincredit.platform.consents._queries import (
    EntryFilter,
    accesses_with_proofs,
    entry_view,
    export_ledger,
    list_entries,
    subject_index_of,
)
from fincredit.platform.consents._records import library_subject, on_consent_ended, state_of
from fincredit.platform.consents._selfcheck import SelfCheck, last_self_check, run_self_check
from fincredit.platform.consents._witnesses import (
    Published,
    WitnessStatus,
    cosign,
    published_checkpoint,
    witness_quorum,
    witness_statuses,
)

__all__ = [
    "ACTIONS",
    "AccessAsk",
    "AccessBatch",
    "Allowed",
    "EntryFilter",
    "Outcome",
    "Published",
    "RecordedGrant",
    "SelfCheck",
    "SqlTreeStore",
    "SubjectDecision",
    "WitnessStatus",
    "accesses_with_proofs",
    "act_on_consent",
    "append",
    "authorize_access",
    "authorize_many",
    "check_access",
    "checkpoint_at",
    "consent_view",
    "consistency_proof",
    "cosign",
    "entry_view",
    "expire_due",
    "export_ledger",
    "get_held_consent",
    "get_own_consent",
    "inclusion_proof",
    "issue_receipt",
    "last_self_check",
    "latest_checkpoint",
    "library_subject",
    "list_entries",
    "lock_head",
    "note_signer",
    "on_consent_ended",
    "published_checkpoint",
    "read_size",
    "receipt_kid",
    "record_disclosure",
    "record_grants",
    "request_consent",
    "root",
    "run_self_check",
    "state_of",
    "subject_index_of",
    "subject_indexer",
    "witness_quorum",
    "witness_statuses",
]
