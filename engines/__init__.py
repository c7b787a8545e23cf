"""Engine clients: pure Python, no ``odoo`` import (see DESIGN §1)."""
from .base import EngineClient, Exchange, RateLimitState
from .dialect import Dialect
from .errors import (
    AmbiguousCustomer,
    AuthError,
    CustomerGone,
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
from .fakturownia import FakturowniaClient
from .smartbill import DEFAULT_BASE_URL as SMARTBILL_BASE_URL
from .smartbill import SmartBillClient
from .transport import HttpResponse, HttpTransport

# engine_type -> client class; the models ask the class about the engine (the first is the default type).
CLIENT_CLASSES = {client.engine_type: client for client in (FakturoidClient, FakturowniaClient, SmartBillClient)}

__all__ = [
    "CLIENT_CLASSES",
    "AmbiguousCustomer",
    "AuthError",
    "CustomerGone",
    "Dialect",
    "EngineClient",
    "EngineError",
    "Exchange",
    "FAKTUROID_BASE_URL",
    "FakturoidClient",
    "FakturoidOAuth",
    "FakturowniaClient",
    "HttpResponse",
    "HttpTransport",
    "MaybeCreated",
    "NotFound",
    "OutcomeUnknown",
    "RateLimitState",
    "RateLimited",
    "Rejected",
    "SMARTBILL_BASE_URL",
    "SmartBillClient",
    "TokenSet",
    "TransientError",
]
