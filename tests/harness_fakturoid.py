"""Fakturoid behind the engine harness: the local ``FakturoidSandbox`` over real HTTP."""
import re
from decimal import Decimal

import requests

from ..engines.fakturoid import FakturoidClient
from ..sandbox.fakturoid import FakturoidSandbox
from .harness import EngineHarness

SLUG = "odoo-test"
CLIENT_ID = "odoo-test-client-id"
CLIENT_SECRET = "odoo-test-client-secret-value"


class FakturoidHarness(EngineHarness):
    """One Fakturoid account (``account`` is its slug) and one API client allowed into it."""

    client_class = FakturoidClient
    country_code = "cz"
    currency_code = "CZK"
    calls = {
        "create_document": ("POST", r"/invoices\.json$"),
        "find_document": ("GET", r"/invoices\.json$"),
        "fetch_pdf": ("GET", r"/download\.pdf$"),
        "record_payment": ("POST", r"/payments\.json$"),
        "find_customer": ("GET", r"/subjects(/search)?\.json$"),  # by our key, then by identifiers
        "create_customer": ("POST", r"/subjects\.json$"),
        "document_status": ("GET", r"/invoices/\d+\.json$"),
    }
    golden_dir = "fakturoid"
    vat_rates = (21, 12)
    tax_label = "DPH"

    def __init__(self, account=SLUG, client_id=CLIENT_ID, client_secret=CLIENT_SECRET):
        super().__init__()
        self.account, self.client_id, self.client_secret = account, client_id, client_secret

    def start(self):
        self.sandbox = FakturoidSandbox().start()
        return self

    def reset(self):
        self.sandbox.reset()
        self.sandbox.add_account(self.account, name="Testovací s.r.o.", currency="CZK", country="CZ")
        self.sandbox.add_client(self.client_id, self.client_secret, accounts=(self.account,))
        self.sandbox.pdf_render_polls = 0

    def engine_values(self):
        return {
            "base_url": self.sandbox.api_url,
            "fakturoid_client_id": self.client_id,
            "fakturoid_client_secret_input": self.client_secret,
            "fakturoid_account_slug": self.account,
        }

    def customer_values(self, env):
        return {
            "name": "Zákazník s.r.o.",
            "is_company": True,
            "street": "Vinohradská 12",
            "city": "Praha",
            "zip": "12000",
            "country_id": env.ref("base.cz").id,
            "company_registry": "25596641",
            "vat": "CZ25596641",
            "email": "fakturace@zakaznik.cz",
            "lang": "en_US",
        }

    def second_customer_values(self, env):
        return {
            "name": "Odberateľ a.s.",
            "is_company": True,
            "street": "Hlavná 1",
            "city": "Bratislava",
            "zip": "81101",
            "country_id": env.ref("base.sk").id,
            "company_registry": "35763469",
            "vat": "SK2020273893",
        }

    def delay_pdf(self, polls):
        self.sandbox.pdf_render_polls = polls

    def state(self):
        """The account in Fakturoid's own shapes: ``subjects``, ``invoices``, ``payments``."""
        return self.sandbox.state(self.account)

    def documents(self):
        return [{
            "id": str(invoice["id"]),
            "number": invoice["number"],
            "key": invoice["custom_id"],
            "total": Decimal(invoice["total"]),
            "currency": invoice["currency"],
            "status": invoice["status"],
            "customer_id": str(invoice["subject_id"]),
            "corrects": str(invoice["correction_id"]) if invoice["correction"] and invoice["correction_id"] else None,
            "url": invoice["html_url"],
            "vat_rates": [Decimal(str(line["vat_rate"])) for line in invoice["lines"]],
            "raw": invoice,
        } for invoice in self.state()["invoices"]]

    def customers(self):
        return [{
            "id": str(subject["id"]), "key": subject["custom_id"], "name": subject["name"], "raw": subject,
        } for subject in self.state()["subjects"]]

    def payments(self):
        return [{
            "id": str(payment["id"]),
            "document_id": str(payment["invoice_id"]),
            "amount": Decimal(payment["amount"]),
            "paid_on": payment["paid_on"],
            "raw": payment,
        } for payment in self.state()["payments"]]

    def normalise_payload(self, payload):
        """Our keys carry the database's tag and Odoo ids; the sandbox's ids are its own."""
        normal = {
            key: ("<id>" if key.endswith("_id") and key != "custom_id" and isinstance(value, int) else value)
            for key, value in payload.items()
        }
        if normal.get("custom_id"):
            normal["custom_id"] = re.sub(r"^odoo-[^-]*-(\w+)-\d+$", r"odoo-<db>-\1-<id>", normal["custom_id"])
        return normal

    def store_copy(self, document):
        """An accountant posts an invoice with the same ``custom_id`` through the API."""
        self._as_accountant("POST", "invoices.json", {
            "custom_id": document["key"],
            "subject_id": int(document["customer_id"]),
            "lines": [{"name": "Ručně", "quantity": "1", "unit_price": "100", "vat_rate": 21}],
        })

    def pay_in_engine(self, document, amount):
        self._as_accountant("POST", f"invoices/{document['id']}/payments.json", {"amount": str(amount)})

    def edit_in_engine(self, document):
        self._as_accountant("PATCH", f"invoices/{document['id']}.json", {
            "lines": [{"name": "Doúčtováno", "quantity": "1", "unit_price": "100", "vat_rate": 21}],
        })

    def _as_accountant(self, method, path, payload):
        """What an accountant does in Fakturoid, through the API with a token of their own."""
        token = self.sandbox.issue_token(self.client_id)
        response = requests.request(
            method, f"{self.sandbox.api_url}/accounts/{self.account}/{path}", json=payload,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "Accountant (ucetni@firma.cz)"},
            timeout=10,
        )
        response.raise_for_status()
