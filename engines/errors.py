"""Error taxonomy shared by every engine client.

This is the contract between ``engines/`` and the Odoo models: a client never
lets a ``requests`` exception or a raw HTTP status escape; it raises one of the
classes below, each carrying a message a person can act on.

    AuthError        credentials refused or account unusable: stop this engine's batch
    RateLimited      the engine asked us to slow down: stop the batch, resume after ``retry_after``
    TransientError   nothing was stored (5xx on a read, connection refused): retry later
    Rejected         the engine refused the data (4xx validation): a person must fix it
      CustomerGone   ... because the customer's record the document names is gone from the engine
    MaybeCreated     a create may have been stored although no answer came back
    NotFound         the remote object does not exist (any more)
    AmbiguousCustomer  several engine records may be the customer: a person chooses
"""


class EngineError(Exception):
    """Base class; ``message`` is written for the accountant, not the developer."""

    def __init__(self, message, *, status=None, details=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.details = details

    def __str__(self):
        return self.message


class AuthError(EngineError):
    """The engine refused our credentials or the account cannot be used.

    ``reason`` is one of ``invalid_credentials``, ``token_revoked``,
    ``account_blocked`` (Fakturoid 402), ``forbidden`` or ``user_agent``.
    """

    def __init__(self, message, *, reason="invalid_credentials", status=None, details=None):
        super().__init__(message, status=status, details=details)
        self.reason = reason


class RateLimited(EngineError):
    """Too many calls; ``retry_after`` is in seconds (float)."""

    def __init__(self, message, *, retry_after, status=None, details=None):
        super().__init__(message, status=status, details=details)
        self.retry_after = retry_after


class TransientError(EngineError):
    """Temporary failure where the engine certainly did not store anything."""


class Rejected(EngineError):
    """Validation refused by the engine.

    ``field_errors`` maps the engine's field name to its messages, verbatim
    (Fakturoid answers in Czech on Czech accounts).
    """

    def __init__(self, message, *, field_errors=None, status=None, details=None):
        super().__init__(message, status=status, details=details)
        self.field_errors = field_errors or {}


class CustomerGone(Rejected):
    """The engine refused a document because its customer record no longer exists there.

    The customer was deleted in the engine: link or create it afresh, then send again.
    """


class MaybeCreated(EngineError):
    """The create request may have reached the engine but its answer was lost.

    Never retry the create blindly: reconcile with ``find_document`` first.
    """


class NotFound(EngineError):
    """The remote object does not exist."""


class OutcomeUnknown(EngineError):
    """Reconciliation could not tell whether the document exists remotely.

    Raised by ``find_document`` on engines without a read-back (SmartBill):
    the move goes to review, where a person links or confirms.
    """


class AmbiguousCustomer(EngineError):
    """The engine holds customers that may be this one, but none can be adopted safely.

    Either several records match on the same identifier, or the one match already
    belongs to someone else (it carries another key). ``candidates`` are the
    ``CustomerCandidate`` records a person chooses from; nothing was created.
    """

    def __init__(self, message, *, candidates=(), status=None, details=None):
        super().__init__(message, status=status, details=details)
        self.candidates = tuple(candidates)
