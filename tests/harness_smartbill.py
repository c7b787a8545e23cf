"""SmartBill behind the engine harness: the local ``SmartBillSandbox`` over real HTTP.

SmartBill keeps neither our key nor customer records: a document is known by its series and
zero-padded number, and the harness reads our key back from the invoice's ``observations``
("Odoo INV/2026/00001 (odoo-…-move-7)"), where the client writes it. A storno copies its
original's observations and carries no key of its own: it is the document of the credit note
that reverses its original whole.
"""
import re
from decimal import Decimal

import requests

from ..engines.smartbill import SmartBillClient
from ..sandbox.smartbill import SmartBillSandbox
from .common import InvoiceEngineCase
from .harness import EngineHarness

CIF = "RO14399840"  # the company's own CIF (its check digit is valid)
EMAIL = "contabilitate@firma-test.ro"
TOKEN = "0f3c9a7e5b1d4f2a8c6e0b9d7f5a3c1e"
TAXES = (("Normala", 21), ("Redusa", 11), ("SDD", 0), ("Taxare inversa", 0))
INVOICE_SERIES, CREDIT_SERIES, JOURNAL_SERIES, RECEIPT_SERIES = "FCT", "FCTC", "EXP", "CHT"
SERIES = ((INVOICE_SERIES, "f", 1), (CREDIT_SERIES, "f", 1), (JOURNAL_SERIES, "f", 1), (RECEIPT_SERIES, "c", 1))
OUR_KEY = re.compile(r"\((odoo-[^)\s]+)\)")
CORRECTS = re.compile(r"^(?:Corectie la factura|Correction of invoice) (\S+)$", re.MULTILINE)
RUN_SPECIFIC = re.compile(r"odoo-[0-9a-f]*-(\w+)-\d+")


class SmartBillHarness(EngineHarness):
    """One SmartBill company (``cif``) of one login (``email`` and its API token)."""

    client_class = SmartBillClient
    country_code = "ro"
    currency_code = "RON"
    calls = {
        "create_document": ("POST", r"/invoice(/reverse)?$"),  # an invoice, or a storno
        "find_document": ("GET", r"/series$"),  # nextNumber, before the create and after a lost answer
        "fetch_pdf": ("GET", r"/invoice/pdf$"),
        "record_payment": ("POST", r"/payment$"),
        "delete_payment": ("DELETE", r"/payment/(v2|chitanta)$"),
        "document_status": ("GET", r"/invoice/paymentstatus$"),
        "cancel_document": ("PUT", r"/invoice/cancel$"),
        "reference_data": ("GET", r"/tax$"),
    }
    golden_dir = "smartbill"
    vat_rates = (21, 11)
    tax_label = "TVA"

    def __init__(self, cif=CIF, email=EMAIL, token=TOKEN):
        super().__init__()
        self.cif, self.email, self.token = cif, email, token

    def start(self):
        self.sandbox = SmartBillSandbox().start()
        return self

    def reset(self, **account):
        """An empty company; ``account`` changes what ``SmartBillSandbox.add_account`` is given."""
        self.sandbox.reset()
        self.add_account(**account)

    def add_account(self, **account):
        values = {"cif": self.cif, "email": self.email, "token": self.token, "name": "Firma Test SRL",
                  "taxes": TAXES, "series": SERIES, **account}
        self.sandbox.add_account(values.pop("cif"), values.pop("email"), values.pop("token"), **values)

    def engine_values(self):
        return {
            "engine_type": "smartbill",
            "base_url": self.sandbox.api_url,
            "smartbill_email": self.email,
            "smartbill_token_input": self.token,
            "smartbill_cif": self.cif.removeprefix("RO"),
            "document_language": "ro",
        }

    def customer_values(self, env):
        return {
            "name": "Client Test SRL",
            "is_company": True,
            "street": "Str. Polonă 12",
            "city": "Sector 1",
            "zip": "010491",
            "state_id": env.ref("base.RO_B").id,
            "country_id": env.ref("base.ro").id,
            "company_registry": "J40/1234/2015",
            "vat": "RO13548146",
            "email": "facturi@client-test.ro",
        }

    def second_customer_values(self, env):
        """A private person in Cluj, known by the CNP."""
        return {
            "name": "Ion Popescu",
            "is_company": False,
            "street": "Str. Memorandumului 28",
            "city": "Cluj-Napoca",
            "zip": "400114",
            "state_id": env.ref("base.RO_CJ").id,
            "country_id": env.ref("base.ro").id,
            "vat": "1800101221144",
            "email": "ion.popescu@example.ro",
        }

    def prepare_engine(self, engine):
        """Test connection loads the VAT rates (the taxes are matched by percentage) and the series."""
        result = engine.action_test_connection()
        if result["params"]["type"] != "success":
            raise AssertionError(result["params"]["message"])
        series = {numbering.remote_id: numbering for numbering in engine.numbering_ids}
        engine.write({
            "numbering_id": series[INVOICE_SERIES].id,
            "refund_numbering_id": series[CREDIT_SERIES].id,
            "smartbill_receipt_numbering_id": series[RECEIPT_SERIES].id,
        })

    def delay_pdf(self, polls):
        if polls:
            raise ValueError("SmartBill serves the PDF at once (no asynchronous rendering to delay)")

    # -- what the engine holds ---------------------------------------------

    def state(self):
        """The company in the sandbox's own shapes: ``series``, ``invoices``, ``payments``, ``receipts``."""
        return self.sandbox.state(self.cif)

    def documents(self):
        return [self._document(invoice) for invoice in self.state()["invoices"]]

    @staticmethod
    def _document(invoice):
        storno_of = "".join(invoice["storno_of"]) if invoice["storno_of"] else None
        corrects = CORRECTS.search(invoice["mentions"] or "")
        key = OUR_KEY.search(invoice["observations"] or "")
        total, paid = Decimal(invoice["total"]), Decimal(invoice["paid"])
        if invoice["cancelled"]:
            status = "cancelled"
        elif total > 0 and paid >= total:
            status = "paid"
        else:
            status = "open"
        return {
            "id": invoice["id"],
            "number": invoice["number"],
            "key": key.group(1) if key and not storno_of else None,
            "total": total,
            "currency": invoice["currency"],
            "status": status,
            "customer_id": None,
            "corrects": storno_of or (corrects.group(1) if corrects else None),
            "url": "",
            "vat_rates": [Decimal(item["rate"]) for item in invoice["products"]],
            "raw": invoice,
        }

    def documents_of(self, move):
        """The documents carrying ``move``'s key; for a credit note also the storno of its invoice."""
        matches = super().documents_of(move)
        original = move.reversed_entry_id
        if move.move_type == "out_refund" and original:
            originals = {document["id"] for document in super().documents_of(original)}
            matches += [document for document in self.documents()
                        if document["raw"]["storno_of"] and document["corrects"] in originals]
        return matches

    def customers(self):
        return []  # SmartBill keeps no customer records we could read: each invoice carries its client

    def payments(self):
        return [{
            "id": str(payment["id"]),
            "document_id": f"{part['series']}{part['number']}",
            "amount": Decimal(part["amount"]),
            "paid_on": payment["issueDate"],
            "raw": payment,
        } for payment in self.state()["payments"] for part in payment["invoices"]]

    def normalise_payload(self, payload):
        """Our keys in ``observations`` carry the database's tag and the move's id."""
        if isinstance(payload, dict):
            return {key: self.normalise_payload(value) for key, value in payload.items()}
        if isinstance(payload, list):
            return [self.normalise_payload(value) for value in payload]
        if isinstance(payload, str):
            return RUN_SPECIFIC.sub(r"odoo-<db>-\1-<id>", payload)
        return payload

    def store_copy(self, document):
        """An accountant issues another invoice with the same observations (our key) through the API."""
        raw = document["raw"]
        self._as_accountant("POST", "invoice", {
            "companyVatCode": self.cif, "client": raw["client"], "issueDate": raw["issueDate"],
            "seriesName": raw["series"], "currency": raw["currency"], "observations": raw["observations"],
            "products": [{"name": "Introdus manual", "measuringUnitName": "buc", "currency": raw["currency"],
                          "quantity": 1, "price": 100, "isTaxIncluded": False, "taxName": "Normala",
                          "taxPercentage": 21, "isService": True}],
        })

    # -- what a person does in SmartBill's own screens -------------------------

    def pay_in_engine(self, document, amount):
        raw = document["raw"]
        self.sandbox.pay_in_smartbill(self.cif, raw["series"], raw["number"], amount)

    def edit_in_engine(self, document):
        raw = document["raw"]
        self.sandbox.edit_invoice_total(self.cif, raw["series"], raw["number"], Decimal(raw["total"]) + 100)

    def issue_in_smartbill(self, series=INVOICE_SERIES, value=Decimal("100")):
        """Someone issues an invoice in the series from SmartBill's own screens."""
        return self.sandbox.issue_in_smartbill(self.cif, series, value=value)

    def _as_accountant(self, method, path, payload):
        response = requests.request(method, f"{self.sandbox.api_url}/{path}", json=payload,
                                    auth=(self.email, self.token), timeout=10)
        response.raise_for_status()
        if response.json().get("errorText"):
            raise AssertionError(response.json()["errorText"])


class SmartBillCase(InvoiceEngineCase):
    """The case of the SmartBill flow tests: a Romanian company in RON, SmartBill on the sandbox.

    Its tests name the Romanian rates and customers: TVA 21 % and 11 %, a company in Bucharest's
    sector 1 and a private person in Cluj.
    """

    harness_class = SmartBillHarness

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.vat_21, cls.vat_11 = cls.vat_standard, cls.vat_reduced
        cls.customer_company, cls.customer_person = cls.customer, cls.second_customer
