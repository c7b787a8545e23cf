"""Fakturownia behind the engine harness: the local ``FakturowniaSandbox`` over real HTTP.

The account lives at ``sandbox.account_url(account)`` (the sandbox's stand-in for
``https://{account}.fakturownia.pl``), KSeF connected and its automatic sending off: a
document goes to KSeF only when the engine asks (``gov_save_and_send``). ``FakturowniaCase``,
the flow tests' case, is here too (``FakturoidCase`` is in ``common.py``).
"""
import re
from decimal import Decimal

import requests

from ..engines.fakturownia import STATUSES, FakturowniaClient
from ..sandbox.fakturownia import FakturowniaSandbox, tax_rate
from .common import InvoiceEngineCase
from .harness import EngineHarness

ACCOUNT = "odoo-test"
TOKEN = "Fk7Qm2Xw9Lp4Rt6Zv1Bn"
SELLER_NIP = "5252445767"
DEPARTMENTS = (
    {"name": "Testowa Sp. z o.o.", "shortcut": "Centrala", "tax_no": SELLER_NIP},
    {"name": "Testowa Sp. z o.o. Oddział Kraków", "shortcut": "Kraków", "tax_no": SELLER_NIP,
     "street": "ul. Floriańska 3", "post_code": "31-019", "city": "Kraków"},
)
ID_FIELDS = ("client_id", "department_id", "invoice_id", "from_invoice_id")


class FakturowniaHarness(EngineHarness):
    """One Fakturownia account (``account``) reached with ``token``."""

    client_class = FakturowniaClient
    country_code = "pl"
    currency_code = "PLN"
    calls = {
        "create_document": ("POST", r"/invoices\.json$"),
        "find_document": ("GET", r"/invoices\.json$"),
        "fetch_pdf": ("GET", r"/invoices/\d+\.pdf$"),
        "record_payment": ("POST", r"/banking/payments\.json$"),
        "find_customer": ("GET", r"/clients\.json$"),  # by our external_id, then by tax number and e-mail
        "create_customer": ("POST", r"/clients\.json$"),
        "document_status": ("GET", r"/invoices/\d+\.json$"),
    }
    golden_dir = "fakturownia"
    vat_rates = (23, 8)
    tax_label = "VAT"

    def __init__(self, account=ACCOUNT, token=TOKEN, *, ksef=True, demo=False):
        super().__init__()
        self.account, self.token, self.ksef, self.demo = account, token, ksef, demo

    def start(self):
        self.sandbox = FakturowniaSandbox().start()
        return self

    def reset(self, **settings):
        """The account, empty; ``settings`` as for ``FakturowniaSandbox.add_account`` (ksef, demo, auto_send…)."""
        self.sandbox.reset()
        options = {"ksef": self.ksef, "demo": self.demo, **settings}
        self.sandbox.add_account(self.account, self.token, departments=[dict(d) for d in DEPARTMENTS], **options)

    @property
    def account_url(self):
        return self.sandbox.account_url(self.account)

    def engine_values(self):
        return {"engine_type": "fakturownia", "base_url": self.account_url, "fakturownia_api_token_input": self.token}

    def customer_values(self, env):
        return {
            "name": "Hurtownia Kowalski Sp. z o.o.",
            "is_company": True,
            "street": "ul. Długa 12",
            "city": "Kraków",
            "zip": "31-147",
            "country_id": env.ref("base.pl").id,
            "company_registry": "123456785",
            "vat": "PL7740001454",
            "email": "faktury@kowalski.example",
            "phone": "+48 12 345 67 89",
            "lang": "en_US",
        }

    def second_customer_values(self, env):
        return {
            "name": "Bäckerei Schulz GmbH",
            "is_company": True,
            "street": "Hauptstraße 5",
            "city": "Berlin",
            "zip": "10115",
            "country_id": env.ref("base.de").id,
            "vat": "DE143454214",
            "email": "rechnung@schulz.example",
        }

    def delay_pdf(self, polls):
        """Fakturownia renders the PDF at once; here the first ``polls`` downloads find it unavailable."""
        if polls:
            self.inject("status", "fetch_pdf", status=503, times=polls)

    # -- what the engine holds ---------------------------------------------

    def state(self):
        """The account in Fakturownia's own shapes: ``clients``, ``invoices``, ``payments``, ``departments``."""
        return self.sandbox.state(self.account)

    def documents(self):
        return [{
            "id": str(invoice["id"]),
            "number": invoice["number"],
            "key": invoice["oid"] or "",
            "total": Decimal(invoice["price_gross"]),
            "currency": invoice["currency"],
            "status": STATUSES.get(invoice["status"], invoice["status"]),
            "customer_id": str(invoice["client_id"]) if invoice["client_id"] else None,
            "corrects": str(invoice["invoice_id"]) if invoice["kind"] == "correction" else None,
            "url": f"{self.account_url}/invoices/{invoice['id']}",
            "vat_rates": [tax_rate(position["tax"]) for position in invoice["positions"]],
            "raw": invoice,
        } for invoice in self.state()["invoices"]]

    def customers(self):
        return [{
            "id": str(client["id"]), "key": client["external_id"] or "", "name": client["name"], "raw": client,
        } for client in self.state()["clients"]]

    def payments(self):
        return [{
            "id": str(payment["id"]),
            "document_id": str(payment["invoice_id"]),
            "amount": Decimal(payment["price"]),
            "paid_on": payment["paid_date"],
            "raw": payment,
        } for payment in self.state()["payments"]]

    def normalise_payload(self, payload):
        """Sandbox ids, our keys (the database's tag, Odoo ids) and the token vary from run to run."""
        if isinstance(payload, list):
            return [self.normalise_payload(item) for item in payload]
        if not isinstance(payload, dict):
            return payload
        normal = {}
        for key, value in payload.items():
            if key == "api_token":
                value = "<token>"
            elif key in ID_FIELDS and value not in (None, ""):
                value = "<id>"
            elif key in ("oid", "external_id") and isinstance(value, str):
                value = re.sub(r"^odoo-[^-]*-(\w+)-\d+$", r"odoo-<db>-\1-<id>", value)
            normal[key] = self.normalise_payload(value)
        return normal

    # -- what a person does in Fakturownia ------------------------------------

    def store_copy(self, document):
        """An accountant issues an invoice with the same order number (oid), without oid_unique."""
        self._as_accountant("POST", "invoices.json", {"invoice": {
            "kind": "vat", "oid": document["key"], "client_id": int(document["customer_id"]),
            "issue_date": document["raw"]["issue_date"], "buyer_company": True,
            "positions": [{"name": "Ręcznie", "quantity": 1, "price_net": "100", "tax": 23}],
        }})

    def pay_in_engine(self, document, amount):
        self.sandbox.pay_in_ui(self.account, int(document["id"]), amount)

    def edit_in_engine(self, document):
        self._as_accountant("PUT", f"invoices/{document['id']}.json", {"invoice": {
            "positions": [{"name": "Doliczone", "quantity": 1, "price_net": "100", "tax": 23}],
        }})

    def _as_accountant(self, method, path, payload):
        response = requests.request(
            method, f"{self.account_url}/{path}", json={"api_token": self.token, **payload}, timeout=10,
        )
        response.raise_for_status()
        return response.json()


class FakturowniaCase(InvoiceEngineCase):
    """The case of the Fakturownia flow tests: a Polish company, Fakturownia on the sandbox.

    Its tests name the Polish rates and customers: VAT 23 % and 8 %, a Polish and a German company.
    """

    harness_class = FakturowniaHarness

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.vat_23, cls.vat_8 = cls.vat_standard, cls.vat_reduced
        cls.product_23, cls.product_8 = cls.product_standard, cls.product_reduced
        cls.customer_pl, cls.customer_de = cls.customer, cls.second_customer
        # As a person sets the engine up: Test connection loads the departments and connects it.
        cls.engine.action_test_connection()
        cls.department_main, cls.department_branch = cls.engine.numbering_ids.sorted(lambda n: not n.is_default)
