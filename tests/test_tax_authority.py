"""Never twice to the tax authority: the rule is keyed by the authority each engine submits to.

Odoo 18 has no module of its own for KSeF. These tests give it a stand-in (an Odoo "Send to KSeF"
option, and ``ref`` standing for the field such a module would set once it submitted a move) to
show that Fakturownia, which submits to KSeF, makes it give way exactly as SmartBill makes Odoo's
RO e-Factura give way (``test_ro_efactura.py``, with Odoo's real module), and that Fakturoid,
which submits to nobody, leaves it alone.
"""
from contextlib import contextmanager
from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import tagged

from ..engines.fakturoid import FakturoidClient
from ..engines.fakturownia import FakturowniaClient
from ..engines.smartbill import SmartBillClient
from ..models.tax_authority import ODOO_SUBMITTERS, OdooSubmitter
from .common import FakturoidCase
from .harness_fakturownia import FakturowniaCase

ODOO_KSEF = OdooSubmitter(
    module="l10n_pl_ksef",  # a stand-in: Odoo 18 has no KSeF module
    extra_edis=frozenset({"pl_ksef"}),
    edi_formats=frozenset({"fa_3"}),
    submitted_field="ref",
    reference_field="ref",
    credential_fields=("name",),
)


class OdooKsefStandIn:

    @contextmanager
    def odoo_submits_to_ksef(self):
        send = type(self.env["account.move.send"])
        odoos_options = {"pl_ksef": {"label": "Send to KSeF", "is_applicable": lambda move: True}}
        with patch.dict(ODOO_SUBMITTERS, {"KSeF": ODOO_KSEF}), \
                patch.object(send, "_get_all_extra_edis", lambda self: dict(odoos_options)):
            yield

    def sending_settings(self, move, **custom_settings):
        return self.env["account.move.send"]._get_default_sending_settings(move, **custom_settings)


@tagged("post_install", "-at_install")
class TestEachEngineSaysWhoSubmits(FakturoidCase):

    def test_the_capabilities_name_the_authority(self):
        self.assertIsNone(FakturoidClient.capabilities.tax_authority, "Fakturoid submits to no tax authority")
        ksef, efactura = FakturowniaClient.capabilities.tax_authority, SmartBillClient.capabilities.tax_authority
        self.assertEqual((ksef.system, ksef.recipient, ksef.country_code), ("KSeF", "KSeF", "PL"))
        self.assertEqual((efactura.system, efactura.recipient, efactura.country_code), ("RO e-Factura", "ANAF", "RO"))
        self.assertEqual(ODOO_SUBMITTERS["RO e-Factura"].module, "l10n_ro_edi")


@tagged("post_install", "-at_install")
class TestOdooGivesWayToFakturowniaForKsef(OdooKsefStandIn, FakturowniaCase):

    def test_odoos_option_is_off_for_an_invoice_fakturownia_covers(self):
        move = self.create_invoice()
        with self.odoo_submits_to_ksef():
            send = self.env["account.move.send"]
            self.assertEqual(send._get_default_extra_edis(move), set())
            self.assertEqual(self.sending_settings(move, extra_edis={"pl_ksef"})["extra_edis"], set(),
                             "not even when a caller asks for it")
            engine, options = send._engine_given_way_options(move)
            self.assertEqual(send._engine_submission_reason(engine, options.values(), 1),
                             "Fakturownia submits this invoice to KSeF: Odoo's “Send to KSeF” is off for it.")

    def test_an_invoice_kept_out_of_fakturownia_keeps_odoos_option(self):
        move = self.create_invoice()
        move.action_engine_exclude()
        with self.odoo_submits_to_ksef():
            self.assertEqual(self.env["account.move.send"]._get_default_extra_edis(move), {"pl_ksef"})
            self.assertEqual(self.sending_settings(move, extra_edis={"pl_ksef"})["extra_edis"], {"pl_ksef"})

    def test_an_invoice_odoo_submitted_is_not_sent_to_fakturownia(self):
        move = self.create_invoice(post=False)
        move.ref = "KSeF 5260250274-20261102-0A1B2C3D4E5F-7A"
        move.action_post()
        with self.odoo_submits_to_ksef():
            self.run_queue()
            self.assertEqual(move.engine_state, "error")
            self.assertIn("Odoo has already submitted", move.engine_error)
            self.assertIn("Fakturownia would submit it a second time", move.engine_error)
            self.assertEqual(self.harness.requests("create_document"), [], "nothing created in Fakturownia")
            with self.assertRaisesRegex(UserError, "Odoo has already submitted"):
                move.action_engine_send()
            self.assertEqual(self.env["account.move.send"]._get_default_extra_edis(move), {"pl_ksef"},
                             "Odoo's own flow stands for what Odoo submitted")

    def test_two_submitters_are_named_on_the_engine(self):
        self.assertFalse(self.engine.submitter_conflict, "no Odoo submitter to KSeF in Odoo 18")
        with self.odoo_submits_to_ksef():
            self.engine.invalidate_recordset(["submitter_conflict"])
            self.assertIn("Two submitters to KSeF are configured: Fakturownia", self.engine.submitter_conflict)


@tagged("post_install", "-at_install")
class TestFakturoidLeavesOdoosSubmissionAlone(OdooKsefStandIn, FakturoidCase):

    def test_an_engine_that_submits_nowhere_changes_nothing(self):
        move = self.create_invoice()
        with self.odoo_submits_to_ksef():
            self.assertEqual(self.env["account.move.send"]._get_default_extra_edis(move), {"pl_ksef"})
            self.assertFalse(self.engine.submitter_conflict)
