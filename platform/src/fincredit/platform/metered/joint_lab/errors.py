"""Domain exceptions of joint modelling and encrypted scoring; ``api/problems.py`` maps them (it finds
every ``FincreditError`` subclass), code that raises them never thinks about HTTP."""

from __future__ import annotations

from fincredit.platform.core.errors import Conflict, Forbidden, InvalidInput, NotFound


class JointJobNotFound(NotFound):
    slug, title = "joint-job-not-found", "No such joint-modelling job"


class JointJobForbidden(Forbidden):
    """A frame or a call names a job that belongs to another institution."""

    slug, title = "joint-job-forbidden", "The job belongs to another institution"


class JointJobState(Conflict):
    slug, title = "joint-job-state", "The job's state does not allow this"


class JointJobInvalid(InvalidInput):
    slug, title = "joint-job-invalid", "The joint-modelling request is not valid"


class JointModelNotFound(NotFound):
    slug, title = "joint-model-not-found", "No such joint model"


class MalformedFrame(InvalidInput):
    slug, title = "malformed-frame", "The federation frame cannot be decoded"


class SelfApproval(Forbidden):
    """Model-risk sign-off is four-eyes: the account that trained a model cannot approve it."""

    slug, title = "joint-model-self-approval", "A model is approved by a second person of the bank"


class VersionNotApproved(Conflict):
    slug, title = "joint-model-not-approved", "The model version is not approved"
