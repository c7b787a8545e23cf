"""The exact JSON each engine is sent for a fixed set of Odoo documents.

The documents are posted for real and the queue runs against the sandbox; what the sandbox
received is compared with ``tests/golden/<engine>/<name>.json`` after the harness has
replaced what changes from run to run (ids, the database's tag in our keys). A difference
fails with a unified diff of the two JSON texts.

A change of payload that is meant: regenerate the files and review them in the diff::

    AIE_UPDATE_GOLDEN=1 bash scripts/test.sh -k golden
"""
import difflib
import json
import os
from pathlib import Path

from odoo.tests import tagged

from .common import FakturoidCase
from .harness_fakturownia import FakturowniaCase
from .harness_smartbill import SmartBillCase

GOLDEN = Path(__file__).parent / "golden"


def as_text(payload):
    return json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class GoldenPayloadTests:

    def sent(self, operation):
        """The normalised payloads of the calls for ``operation`` since the last look."""
        requests = self.harness.requests(operation)
        new, self._seen[operation] = requests[self._seen.get(operation, 0):], len(requests)
        return [self.harness.normalise_payload(request["json"]) for request in new]

    def send(self, move):
        """Run the queue for ``move``; return its document's payload and any customer payloads."""
        self.run_queue()
        self.assertEqual(move.engine_state, "sent", move.engine_error)
        [document] = self.sent("create_document")
        customers = self.sent("create_customer") if self.harness.capabilities.keeps_customers else []
        return document, customers

    def test_payloads_match_the_golden_files(self):
        self._seen = {}
        # Named after the customers' countries: cz and sk for Fakturoid's, pl and de for Fakturownia's, ro for SmartBill's.
        home, abroad = (partner.country_id.code.lower() for partner in (self.customer, self.second_customer))
        eur = self.setup_other_currency("EUR", rates=[("2026-01-01", 0.04)])
        invoice = self.create_invoice(lines=[
            (self.product_standard, 2, 1000.0),
            (self.product_reduced, 3, 250.0, 10.0),
        ], ref="PO-4711", payment_reference="2026110", invoice_date_due="2026-11-16")
        payloads = {}
        payloads[f"invoice_{home}_two_rates_discount"], customers = self.send(invoice)
        payloads.update((f"customer_{home}", customer) for customer in customers)
        export = self.create_invoice(partner=self.second_customer, currency_id=eur.id,
                                     lines=[(self.product_standard, 1, 100.0)], invoice_date_due="2026-12-02")
        payloads[f"invoice_eur_{abroad}"], customers = self.send(export)
        payloads.update((f"customer_{abroad}", customer) for customer in customers)
        credit_note = self.refund(invoice, quantity=1)
        payloads[f"credit_note_of_invoice_{home}"], customers = self.send(credit_note)
        self.assertEqual(customers, [], "the customer is known already")
        self.assert_golden(payloads)

    def assert_golden(self, payloads):
        folder = GOLDEN / self.harness.golden_dir
        if os.environ.get("AIE_UPDATE_GOLDEN") == "1":
            folder.mkdir(parents=True, exist_ok=True)
            for name, payload in payloads.items():
                (folder / f"{name}.json").write_text(as_text(payload), encoding="utf-8")
        self.assertEqual(sorted(path.stem for path in folder.glob("*.json")), sorted(payloads),
                         f"one golden file in {folder} per payload sent")
        diffs = []
        for name, payload in sorted(payloads.items()):
            path = folder / f"{name}.json"
            expected = path.read_text(encoding="utf-8")
            diffs.extend(difflib.unified_diff(
                expected.splitlines(keepends=True), as_text(payload).splitlines(keepends=True),
                fromfile=f"golden/{self.harness.golden_dir}/{path.name}", tofile="sent",
            ))
        if diffs:
            self.fail("the payloads differ from the golden files (AIE_UPDATE_GOLDEN=1 rewrites them):\n"
                      + "".join(diffs))


@tagged("post_install", "-at_install")
class TestGoldenPayloadsFakturoid(GoldenPayloadTests, FakturoidCase):
    pass


@tagged("post_install", "-at_install")
class TestGoldenPayloadsFakturownia(GoldenPayloadTests, FakturowniaCase):
    pass


@tagged("post_install", "-at_install")
class TestGoldenPayloadsSmartBill(GoldenPayloadTests, SmartBillCase):
    pass
