"""Engine clients: pure Python, no ``odoo`` import (see DESIGN §1)."""
from .base import EngineClient, Exchange, RateLimitState
from .errors import (
    AuthError,
    EngineError,
    MaybeCreated,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    Rejected,
    TransientError,
)
from .fakturoid import DEFAULT_BASE_URL as FAKTUROID_BASE_URL
from .fakturoid import FakturoidClient, FakturoidOAuth, TokenSet
from .transport import HttpResponse, HttpTransport

# engine_type -> client class, for what a client states about itself (e.g. its arithmetic)
# without building a connection.
CLIENT_CLASSES = {client.engine_type: client for client in (FakturoidClient,)}

__all__ = [
    "AuthError",
    "CLIENT_CLASSES",
    "EngineClient",
    "EngineError",
    "Exchange",
    "FAKTUROID_BASE_URL",
    "FakturoidClient",
    "FakturoidOAuth",
    "HttpResponse",
    "HttpTransport",
    "MaybeCreated",
    "NotFound",
    "OutcomeUnknown",
    "RateLimitState",
    "RateLimited",
    "Rejected",
    "TokenSet",
    "TransientError",
]
