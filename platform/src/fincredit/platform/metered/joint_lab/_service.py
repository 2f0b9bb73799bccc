"""The platform party of joint modelling and encrypted scoring inside the service.

One :class:`FederationService` per process wires the federation library's platform handlers (PSI,
vertical LR and SecureBoost training, CKKS/BFV scoring) to the platform: consent-filtered PSI input
sets, one ledger entry per aligned or scored subject, features from the platform's own records and
market data, job state in the database, metering in the transaction that completes the work.

The service only coordinates a job's frames: it checks the job and the bank, prepares what needs its
database (the consenting subjects of an alignment, the platform features of a training), and hands the
frame with the job's saved state to a step (``fincredit.federation.party.dispatch``) that runs as a Ray
task (``Settings.federation_ray``) or in this process. Between frames a job lives in the database
(``joint_job_sessions``) and the federation store directory, not in any process: whichever instance
the next frame reaches continues the job, a restart loses nothing, and a frame retried after a lost
answer gets the answer already given. A job nobody drives any more is failed by the sweep after
``job_timeout`` seconds, and its saved state (its secrets) is deleted when it completes or fails.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select, update

from fincredit.consent import AccessMode, Purpose
from fincredit.consent.identifiers import IdentifierError
from fincredit.federation import (
    Alignment,
    FrameRouter,
    PartyError,
    ScoringHandler,
    ScoringLimits,
)
from fincredit.federation.errors import FederationError, ScoringError, ScoringModelError, ScoringRequestError
from fincredit.federation.joint_model import PlatformLogisticPart, PlatformTreePart
from fincredit.federation.party import (
    PsiAbort,
    PsiStart,
    PsiStarted,
    StepInputs,
    StepResult,
    dispatch,
    ray_available,
    ray_evaluator,
)
from fincredit.federation.scorecard import platform_iv_reply
from fincredit.federation.scoring import ScoringRequest
from fincredit.federation.scoring import error_frame as scoring_error_frame
from fincredit.federation.training import PROTOCOLS
from fincredit.federation.wire import DEFAULT_MAX_FRAME_BYTES, Frame, WireError, decode, encode
from fincredit.platform.consents import authorize_many
from fincredit.platform.core.db import utcnow
from fincredit.platform.core.errors import FincreditError, InvalidIdentifier, NotFound
from fincredit.platform.core.services import Services
from fincredit.platform.identity.principal import Principal
from fincredit.platform.metered.billing import record_usage
from fincredit.platform.metered.billing.enforcement import Usage, ensure_allowed
from fincredit.platform.metered.joint_lab._inputs import (
    consent_digest,
    consenting_subjects,
    platform_feature_frame,
)
from fincredit.platform.metered.joint_lab._jobs import (
    JOINT_PRODUCT,
    SCORING_PRODUCT,
    TERMINAL_STATES,
    fail_job,
    owned_job,
    set_state,
    sweep_abandoned,
)
from fincredit.platform.metered.joint_lab._lifecycle import ensure_scorable
from fincredit.platform.metered.joint_lab._models import part_to_json, scoring_model
from fincredit.platform.metered.joint_lab._registry import market_contracts, register_platform_half
from fincredit.platform.metered.joint_lab._sessions import (
    JobInputs,
    JobSessions,
    SessionState,
    TouchClock,
    request_digest,
)
from fincredit.platform.metered.joint_lab.tables import JointJob, JointJobSession, JointModel
from fincredit.platform.subjects import find_subject

__all__ = ["FederationService", "FrameRecorder"]

_log = logging.getLogger("fincredit.platform.federation")
ROUTE = "/federation/v1/frames"
_TRAINING_PREFIX = {protocol.prefix: name for name, protocol in PROTOCOLS.items()}
_OPEN_KINDS = frozenset(p.open_kind for p in PROTOCOLS.values())
_DONE_KINDS = frozenset(p.done_kind for p in PROTOCOLS.values())
_TOUCH_EVERY = 5.0  # seconds between progress timestamps of one job (one UPDATE, not one per frame)

# (direction, encoded frame): a test hook that sees every frame exactly as it crossed the endpoint.
FrameRecorder = Callable[[str, bytes], None]


def _principal_of(job: JointJob) -> Principal:
    return Principal(
        account_id=job.account_id,
        account_kind="institution",
        org_id=job.org_id,
        org_kind="bank",
        domain=job.org_id,
    )


def _scopes(job: JointJob) -> list[str]:
    return [*job.catalog_items, *job.market_datasets]


def _reply_of(result: StepResult) -> Frame:
    return decode(result.reply, max_bytes=len(result.reply))  # a reply the step encoded itself


def _use_ray(setting: str) -> bool:
    if setting == "off":
        return False
    return setting == "on" or ray_available()


class FederationService:
    def __init__(
        self,
        services: Services,
        *,
        job_timeout: float = 1800.0,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        scoring_limits: ScoringLimits | None = None,
        use_ray: bool | None = None,
    ) -> None:
        self.services = services
        self.job_timeout = job_timeout
        self.max_frame_bytes = max_frame_bytes
        self.scoring_limits = scoring_limits or ScoringLimits()
        self.recorder: FrameRecorder | None = None
        # Steps as Ray tasks (FINCREDIT_RAY_ADDRESS's cluster or a local Ray), or in this process.
        self.use_ray = _use_ray(services.settings.federation_ray) if use_ray is None else use_ray
        self.sessions = JobSessions(services)
        self._router = FrameRouter(max_bytes=max_frame_bytes)
        self._router.register("psi.", self._psi_frame)
        for protocol in PROTOCOLS.values():  # every training protocol's frames, by its prefix
            self._router.register(f"{protocol.prefix}.", self._training_frame)
        self._router.register("iv.", self._iv_frame)
        self._touched = TouchClock(_TOUCH_EVERY)
        self._body = threading.local()  # the frame's bytes as received, for the step and its digest

    # -- the endpoint ------------------------------------------------------------------------------

    def handle_bytes(self, body: bytes, principal: Principal) -> bytes:
        """Answer one encoded frame from an authenticated bank. A job of another bank raises
        :class:`JointJobForbidden` (HTTP 403); every protocol failure is an ``error`` frame."""
        if self.recorder is not None:
            self.recorder("bank->platform", body)
        bank_id = principal.org_id or ""
        try:
            frame = decode(body, max_bytes=self.max_frame_bytes)
        except WireError as exc:
            reply = Frame(kind="error", job_id="", meta={"code": "wire", "message": str(exc)})
        else:
            if frame.kind.split(".", 1)[0] in ("psi", "lr", "sb", "iv"):
                with self.services.read() as session:
                    owned_job(session, frame.job_id, bank_id)  # 403 for another bank's job, 404 unknown
            if frame.kind.startswith("scoring."):
                reply = self._scoring_frame(frame, bank_id)
            else:
                self._body.value = body
                try:
                    reply = self._router.handle(frame, bank_id=bank_id)
                finally:
                    self._body.value = b""
        out = encode(reply)
        if self.recorder is not None:
            self.recorder("platform->bank", out)
        return out

    def sweep(self) -> int:
        """Fail abandoned jobs, and delete the saved state of jobs that have ended."""
        with self.services.tx() as session:
            failed = sweep_abandoned(session, self.job_timeout)
            ended = session.scalars(
                select(JointJobSession.job_id)
                .join(JointJob, JointJob.id == JointJobSession.job_id)
                .where(JointJob.state.in_(TERMINAL_STATES))
            ).all()
        for job_id in ended:
            self.sessions.end(job_id)
        return failed

    # -- one frame of a job ------------------------------------------------------------------------

    def _job_for_frame(self, frame: Frame, bank_id: str, allowed: tuple[str, ...]) -> JointJob:
        self.sweep()
        with self.services.read() as session:
            job = owned_job(session, frame.job_id, bank_id)
            session.expunge(job)
        if job.state == "failed":
            raise PartyError(f"job {job.id} failed: {job.status}", code="job_failed")
        if job.state not in allowed:
            raise PartyError(
                f"job {job.id} is {job.state}; {frame.kind} is not expected now", code="conflict"
            )
        return job

    def _lost(self, job: JointJob) -> PartyError:
        reason = "the platform's saved state of this job is gone (its store was lost); start a new job"
        with self.services.tx() as session:
            fail_job(session, job.id, reason)
        return PartyError(f"job {job.id} failed: {reason}", code="job_failed")

    def _touch(self, job_id: str) -> None:
        if self._touched.due(job_id):
            with self.services.tx() as session:
                session.execute(update(JointJob).where(JointJob.id == job_id).values(updated_at=utcnow()))

    def _step(
        self, state: SessionState, bank_id: str, ref: str | None, inputs: StepInputs | None
    ) -> StepResult:
        return dispatch(
            self.use_ray,
            str(self.sessions.store.root),
            state.job_id,
            bank_id,
            ref,
            self._body.value,
            inputs,
            max_frame_bytes=self.max_frame_bytes,
            psi_options={"job_ttl": self.job_timeout},
        )

    def _replayed(self, state: SessionState) -> Frame | None:
        """The answer already given to this very frame (its first answer was lost on the way)."""
        if state.last_reply is None or state.last_request != request_digest(self._body.value):
            return None
        stored = self.sessions.store.get_bytes(state.job_id, state.last_reply)
        return decode(stored, max_bytes=len(stored))

    def _record(self, state: SessionState, result: StepResult, **changes: Any) -> SessionState:
        reply_ref = self.sessions.store.put_bytes(state.job_id, result.reply)
        return self.sessions.record(
            state, last_request=request_digest(self._body.value), last_reply=reply_ref, **changes
        )

    # -- PSI ---------------------------------------------------------------------------------------

    def _psi_frame(self, frame: Frame, bank_id: str) -> Frame:
        with self.sessions.locked(frame.job_id):
            state = self.sessions.get(frame.job_id)
            replayed = self._replayed(state)
            if replayed is not None:
                return replayed
            if frame.kind == PsiStart.KIND:
                return self._psi_start(frame, bank_id, state)
            job = self._job_for_frame(frame, bank_id, ("aligning", "aligned", "training", "trained"))
            if state.psi_state is None:
                raise self._lost(job)
            self._touch(job.id)
            result = self._step(state, bank_id, state.psi_state, None)
            reply = _reply_of(result)
            if frame.kind == PsiAbort.KIND:
                self._record(state, result, psi_state=None)
                return reply
            if result.state is None:
                return reply
            changes: dict[str, Any] = {"psi_state": result.state}
            if result.alignment is not None:
                # Ledgered before the alignment is recorded: if this fails, the bank gets the error and
                # the job stays where it was.
                live = self.sessions.inputs(state)
                self._on_aligned(bank_id, result.alignment, live)
                changes["live_state"] = self.sessions.store.save(job.id, live)
            self._record(state, result, **changes)
            return reply

    def _psi_start(self, frame: Frame, bank_id: str, state: SessionState) -> Frame:
        job = self._job_for_frame(frame, bank_id, ("created", "aligning"))
        inputs: StepInputs | None = None
        live = self.sessions.inputs(state)
        if state.psi_state is None:  # a new alignment (a retried start keeps its secrets and keys)
            scopes = _scopes(job)
            try:
                asked = PsiStart.from_frame(frame).scopes
            except FederationError as exc:
                raise PartyError(str(exc), code="protocol") from None
            if asked and sorted(asked) != sorted(scopes):
                raise PartyError(
                    f"the alignment names scopes {sorted(asked)}, the job {sorted(scopes)}", code="conflict"
                )
            with self.services.read() as session:
                live.inputs = consenting_subjects(
                    session, self.services, org_id=job.org_id, account_id=job.account_id, scopes=scopes
                )
            inputs = StepInputs(subjects=live.inputs.codes)
        result = self._step(state, bank_id, state.psi_state, inputs)
        reply = _reply_of(result)
        if result.state is None:
            return reply
        with self.services.tx() as session:
            row = owned_job(session, job.id, bank_id, lock=True)
            set_state(row, "aligning", "aligning with the bank (PSI)", allowed_from=("created", "aligning"))
            row.platform_size = PsiStarted.from_frame(reply).platform_size
        self._record(state, result, psi_state=result.state, live_state=self.sessions.store.save(job.id, live))
        return reply

    def _on_aligned(self, bank_id: str, alignment: Alignment, live: JobInputs) -> None:
        assert live.inputs is not None
        with self.services.tx() as session:
            job = owned_job(session, alignment.job_id, bank_id, lock=True)
            subject_ids = [live.inputs.subject_ids[code] for code in alignment.ids]
            decisions = authorize_many(
                session,
                self.services,
                principal=_principal_of(job),
                subjects=subject_ids,
                scopes=_scopes(job),
                purpose=Purpose.JOINT_MODELLING,
                mode=AccessMode.MODEL_TRAINING,
                route=f"{ROUTE} psi.finish",
            )
            refused = sum(1 for d in decisions if not d.allowed)
            if refused:
                # A consent ended between the start of the alignment and its end: the intersection is
                # no longer the consented one. Nothing of this transaction is kept.
                raise PartyError(
                    f"{refused} aligned subjects no longer consent; align again", code="consent_changed"
                )
            consent_ids = [str(d.decision.consent_id) for d in decisions if d.decision.consent_id]
            live.consent_ids = sorted(set(consent_ids))
            live.alignment = alignment
            set_state(job, "aligned", "aligned; waiting for training", allowed_from=("aligning",))
            job.aligned = alignment.size
            job.consent_count = len(live.consent_ids)
            job.consent_digest = consent_digest(live.consent_ids)

    # -- training ----------------------------------------------------------------------------------

    def _features_for(self, job: JointJob, live: JobInputs) -> pd.DataFrame:
        assert live.inputs is not None and live.alignment is not None
        subjects = [(live.inputs.subject_ids[code], code) for code in live.alignment.ids]
        with self.services.read() as session:
            frame = platform_feature_frame(
                session,
                self.services,
                subjects=subjects,
                features=job.platform_features,
                catalog_items=job.catalog_items,
                market_datasets=job.market_datasets,
                purpose=Purpose.JOINT_MODELLING.value,
            )
        medians = frame.median(skipna=True).fillna(0.0)
        fill = {str(k): float(v) for k, v in medians.items()}
        with self.services.tx() as session:
            row = owned_job(session, job.id, job.org_id, lock=True)
            row.fill_values = fill
        return frame.fillna(fill).reset_index(drop=True)

    def _iv_frame(self, frame: Frame, bank_id: str) -> Frame:
        """The encrypted information value (``iv.request``): after the PSI aligned the job and before its
        training opens, the bank's encrypted labels summed per quantile bin of each of the job's platform
        features, computed from the aligned subjects' records as for training. No further ledger entry:
        the alignment already recorded the joint-modelling use of each subject."""
        with self.sessions.locked(frame.job_id):
            state = self.sessions.get(frame.job_id)
            job = self._job_for_frame(frame, bank_id, ("aligned",))
            live = self.sessions.inputs(state)
            if live.inputs is None or live.alignment is None:
                raise self._lost(job)
            features = self._features_for(job, live)
        return platform_iv_reply(frame, features)

    def _training_frame(self, frame: Frame, bank_id: str) -> Frame:
        prefix = frame.kind.split(".", 1)[0]
        opening = frame.kind in _OPEN_KINDS
        with self.sessions.locked(frame.job_id):
            state = self.sessions.get(frame.job_id)
            replayed = self._replayed(state)
            if replayed is not None:
                return replayed
            job = self._job_for_frame(frame, bank_id, ("aligned",) if opening else ("training", "trained"))
            if _TRAINING_PREFIX[prefix] != job.algorithm:
                raise PartyError(
                    f"job {job.id} trains {job.algorithm}, not with {frame.kind}", code="protocol"
                )
            inputs: StepInputs | None = None
            if opening:
                live = self.sessions.inputs(state)
                if live.inputs is None or live.alignment is None:
                    raise self._lost(job)
                # A job opens its training once: a new open starts from no training state.
                state_ref = None
                inputs = StepInputs(features=self._features_for(job, live))
            else:
                if state.training_state is None:
                    raise self._lost(job)
                state_ref = state.training_state
                self._touch(job.id)
            result = self._step(state, bank_id, state_ref, inputs)
            reply = _reply_of(result)
            if result.state is None:
                return reply
            if opening or reply.kind in _DONE_KINDS:
                with self.services.tx() as session:
                    row = owned_job(session, job.id, bank_id, lock=True)
                    if opening:
                        set_state(row, "training", f"training {job.algorithm}", allowed_from=("aligned",))
                    else:
                        set_state(
                            row,
                            "trained",
                            "trained; waiting for the bank's evaluation",
                            allowed_from=("training",),
                        )
            self._record(state, result, training_state=result.state)
            return reply

    def complete(
        self,
        job_id: str,
        principal: Principal,
        *,
        evaluation: dict[str, Any],
        deposit: dict[str, Any] | None = None,
    ) -> JointJob:
        """The bank reports its evaluation: the platform registers its half and the joint metadata in
        MLflow, stores its half for scoring, and meters the job — completion and usage commit together."""
        org_id = principal.org_id
        with self.services.read() as session:
            job = owned_job(session, job_id, org_id)
            session.expunge(job)
        if job.state != "trained":
            raise_state(job)
        state = self.sessions.get(job_id)
        trained = self.sessions.load(job_id, state.training_state)
        if trained is None:
            raise self._lost_on_completion(job)
        part: PlatformLogisticPart | PlatformTreePart = trained.model_part()
        if deposit is not None and not isinstance(part, PlatformLogisticPart):
            from fincredit.platform.metered.joint_lab.errors import JointJobInvalid

            raise JointJobInvalid(
                "only logistic models take a deposit of the bank's weights", field="deposit"
            )
        live = self.sessions.inputs(state)
        with self.services.read() as session:
            contracts = market_contracts(session, job.market_datasets)
        run_id = register_platform_half(
            self.services.settings.var_dir,
            job=job,
            part=part,
            evaluation=evaluation,
            consent_ids=live.consent_ids,
            market_contracts=contracts,
        )
        with self.services.tx() as session:
            row = owned_job(session, job_id, org_id, lock=True)
            set_state(row, "completed", "completed; the model can score", allowed_from=("trained",))
            row.evaluation = evaluation
            row.mlflow_run_id = run_id
            row.completed_at = utcnow()
            session.add(
                JointModel(
                    id=job_id,
                    org_id=row.org_id,
                    algorithm=row.algorithm,
                    platform_part=part_to_json(part),
                    bank_deposit=deposit,
                )
            )
            record_usage(
                session,
                Usage(
                    product=JOINT_PRODUCT,
                    org_id=row.org_id,
                    quantity=Decimal(1),
                    id=f"joint-job-{job_id}",
                    data={"job_id": job_id, "algorithm": row.algorithm, "aligned": row.aligned},
                ),
            )
            session.flush()
            session.expunge(row)
        self.sessions.end(job_id)  # the job's secrets go with its saved state
        return row

    def _lost_on_completion(self, job: JointJob) -> FincreditError:
        from fincredit.platform.metered.joint_lab.errors import JointJobState

        self._lost(job)
        return JointJobState(f"job {job.id} failed: its saved training state is gone", state="failed")

    # -- encrypted scoring -------------------------------------------------------------------------

    def _scoring_frame(self, frame: Frame, bank_id: str) -> Frame:
        try:
            try:
                request = ScoringRequest.from_frame(frame)
            except FederationError as exc:
                raise ScoringRequestError(str(exc)) from None
            model_id, n_rows = request.model_id, request.n_rows
            with self.services.tx() as session:
                model = session.get(JointModel, model_id)
                if model is None or model.org_id != bank_id:
                    raise ScoringModelError(f"model {model_id!r} is not known to the platform")
                job = session.get(JointJob, model_id)
                assert job is not None
                # Only a version a second person of the bank approved scores (model-risk sign-off).
                ensure_scorable(self.services.settings.var_dir, model_id)
                if 1 <= n_rows <= self.scoring_limits.max_rows:
                    ensure_allowed(session, bank_id, SCORING_PRODUCT, n_rows)  # quota before any work
                resolved: dict[str, int] = {}  # this request's codes -> subject ids
                handler = ScoringHandler(
                    models=lambda _bank, _model: scoring_model(
                        model.algorithm, model.platform_part, model.bank_deposit
                    ),
                    platform_features=self._scoring_features(session, job, resolved),
                    authorize=self._scoring_authorize(session, job, resolved),
                    limits=self.scoring_limits,
                    evaluator=ray_evaluator if self.use_ray else None,
                )
                reply, report = handler.score(frame, bank_id)
                if report.scored:
                    record_usage(
                        session,
                        Usage(
                            product=SCORING_PRODUCT,
                            org_id=bank_id,
                            quantity=Decimal(report.scored),
                            id=f"scoring-{uuid.uuid4().hex}",
                            data={"model_id": model_id, "rows": n_rows, "refused": len(report.refused)},
                        ),
                    )
                return reply
        except ScoringError as exc:
            return scoring_error_frame(exc, frame.job_id)
        except FincreditError as exc:  # quota, entitlement, credit limit: refused before the work
            out = Frame(kind="error", job_id=frame.job_id, meta={"code": exc.slug, "message": exc.detail})
            out.meta["status"] = exc.status
            return out

    def _scoring_authorize(
        self, session: Any, job: JointJob, subject_of: dict[str, int]
    ) -> Callable[[str, list[str]], list[str | None]]:
        def authorize(bank_id: str, ids: list[str]) -> list[str | None]:
            reasons: list[str | None] = [None] * len(ids)
            first: dict[str, int] = {}
            for row, code in enumerate(ids):
                if code in first:
                    continue  # the handler refuses repeats; one decision (and entry) per subject
                first[code] = row
                try:
                    subject_of[code] = find_subject(session, self.services.keyring, code).id
                except (NotFound, InvalidIdentifier, IdentifierError):
                    reasons[row] = "unknown_subject"
            codes = list(subject_of)
            if codes:
                decisions = authorize_many(
                    session,
                    self.services,
                    principal=_principal_of(job),
                    subjects=[subject_of[c] for c in codes],
                    scopes=_scopes(job),
                    purpose=Purpose.ENCRYPTED_SCORING,
                    mode=AccessMode.SCORING,
                    route=f"{ROUTE} scoring.request",
                )
                for code, d in zip(codes, decisions, strict=True):
                    if not d.allowed:
                        reason = getattr(d.decision, "reason", None)
                        reasons[first[code]] = str(getattr(reason, "value", reason) or "no_consent")
            return reasons

        return authorize

    def _scoring_features(
        self, session: Any, job: JointJob, subject_of: dict[str, int]
    ) -> Callable[[list[str], list[str]], tuple[np.ndarray, np.ndarray]]:
        def features(ids: list[str], names: list[str]) -> tuple[np.ndarray, np.ndarray]:
            subjects = [(subject_of[c], c) for c in ids]
            frame = platform_feature_frame(
                session,
                self.services,
                subjects=subjects,
                features=names,
                catalog_items=job.catalog_items,
                market_datasets=job.market_datasets,
                purpose=Purpose.ENCRYPTED_SCORING.value,
            )
            frame = frame.fillna({k: v for k, v in job.fill_values.items() if k in frame.columns})
            return frame.to_numpy(dtype=np.float64), np.ones(len(ids), dtype=bool)

        return features


def raise_state(job: JointJob) -> None:
    from fincredit.platform.metered.joint_lab.errors import JointJobState

    if job.state == "failed":
        raise JointJobState(f"job {job.id} failed: {job.status}", state=job.state)
    raise JointJobState(f"job {job.id} is {job.state}; it completes once trained", state=job.state)


__all__ += ["raise_state"]
