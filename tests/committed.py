"""A base for tests that run on real, committed database transactions.

The usual test transaction is rolled back and shares one connection with every cursor the
code opens, which hides what separate transactions see of each other: snapshots, row locks,
advisory locks, commits. Tests derived from ``CommittedEngineCase`` give each cursor its
own PostgreSQL connection, as Odoo workers have. The data they commit lives in a company of
its own, unique per run, and its engine is archived afterwards.
"""
import threading
import uuid
from unittest.mock import patch

from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import Registry
from odoo.tests.common import BaseCase, get_db_name

from .harness_fakturoid import FakturoidHarness
from .loopback import LoopbackHttpMixin


class CommittedEngineCase(LoopbackHttpMixin, BaseCase):
    """A company with an engine on the sandbox of ``harness_class``, committed; one connection per cursor.

    ``slug``, ``client_id`` and ``client_secret`` name the Fakturoid account and API client
    (unique per class); another engine's case overrides ``harness_options``.
    """

    harness_class = FakturoidHarness
    slug = "committed"
    client_id = "committed-client"
    client_secret = "committed-secret"

    @classmethod
    def harness_options(cls):
        return {"account": cls.slug, "client_id": cls.client_id, "client_secret": cls.client_secret}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.registry = Registry(get_db_name())
        cls.harness = cls.harness_class(**cls.harness_options())
        cls.sandbox = cls.harness.start().sandbox
        cls.addClassCleanup(cls.harness.stop)
        with cls.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            country = env.ref(f"base.{cls.harness.country_code}")
            currency = env.ref(f"base.{cls.harness.currency_code}")
            currency.active = True
            company = env["res.company"].create({
                "name": f"Souběh s.r.o. {uuid.uuid4().hex[:8]}",  # committed data: unique across runs
                "country_id": country.id,
                "currency_id": currency.id,
            })
            env["account.chart.template"].try_loading(cls.harness.chart_template, company=company, install_demo=False)
            company.write({"currency_id": currency.id, "tax_calculation_rounding_method": "round_globally"})
            env = env(context={"allowed_company_ids": company.ids})
            rate = cls.harness.vat_rates[0]
            tax = env["account.tax"].create({
                "name": f"{cls.harness.tax_label} {rate} %", "amount": rate, "type_tax_use": "sale",
                "company_id": company.id,
            })
            engine = env["invoice.engine"].create({
                "name": f"{cls.harness.label} (souběh)",
                "company_id": company.id,
                "contact_email": "ucetni@soubeh.cz",
                **cls.harness.engine_values(),
            })
            partner = env["res.partner"].create(cls.harness.customer_values(env))
            cls.company_id, cls.engine_id, cls.tax_id, cls.partner_id = company.id, engine.id, tax.id, partner.id
            cls.harness.reset()
            cr.commit()  # preparing the engine may call it: its call window lives on cursors of their own
            cls.harness.prepare_engine(engine)
        cls.addClassCleanup(cls._archive_engine)

    @classmethod
    def _archive_engine(cls):
        with cls.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["invoice.engine"].browse(cls.engine_id).active = False

    def setUp(self):
        super().setUp()
        # Odoo's own runner runs post-install tests while holding the registry lock
        # (ThreadedServer.run); worker threads look the registry up under that lock when they
        # create environments. Give them a free lock, as Registry.enter_test_mode does.
        self.startPatcher(patch.object(Registry, "_lock", threading.RLock()))
        self.harness.reset()
        with self.registry.cursor() as cr:  # the sandbox forgot its subjects: so do we
            self.env_on(cr)["invoice.engine.partner"].search([("engine_id", "=", self.engine_id)]).unlink()

    def env_on(self, cr, uid=SUPERUSER_ID):
        return api.Environment(cr, uid, {"allowed_company_ids": [self.company_id]})

    def post_invoices(self, count):
        with self.registry.cursor() as cr:
            env = self.env_on(cr)
            moves = env["account.move"].create([{
                "move_type": "out_invoice",
                "partner_id": self.partner_id,
                "invoice_date": "2026-11-02",
                "invoice_line_ids": [Command.create({
                    "name": f"Služba {index}", "quantity": 1, "price_unit": 100 + index,
                    "tax_ids": [Command.set([self.tax_id])],
                })],
            } for index in range(count)])
            moves.action_post()
            return moves.ids

    def run_worker(self, errors=None):
        try:
            with self.registry.cursor() as cr:
                self.env_on(cr)["invoice.engine"]._cron_send()
        except Exception as error:  # collected and asserted by the test
            if errors is None:
                raise
            errors.append(error)
