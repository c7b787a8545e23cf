"""SmartBill's part of the demo: a Romanian company in RON pushing to the SmartBill sandbox.

Its demo data is ``demo/invoice_engine_demo_smartbill.xml`` (a VAT payer in a Bucharest sector,
a company that pays no VAT, a private person with a CNP, products, an engine pointing at the
sandbox). ``scripts/demo.py`` finds this module by its name, makes the company Romanian with the
constants below (l10n_ro's chart, its 21 % and 11 % sale taxes, customers in Romanian) and calls
``push``, then ``after_sending``.
"""
ENGINE = "smartbill"
LABEL = "SmartBill"
COMPANY = "account_invoice_engine.demo_smartbill_company"
LOCALIZATION = "l10n_ro"  # installs l10n_ro_edi (RO e-Factura) too, as a Romanian company has it
CHART_TEMPLATE = "ro"
LANGUAGES = {"RO": "ro_RO"}  # by the partner's country
PRODUCT_TAXES = {  # the rates since August 2025, which l10n_ro's chart carries
    "account_invoice_engine.demo_smartbill_product_accounting": "tvac_21_s",
    "account_invoice_engine.demo_smartbill_product_payroll": "tvac_21_s",
    "account_invoice_engine.demo_smartbill_product_guide": "tvac_11",
}


def connect(env, sandbox):
    """The demo company's environment and its engine, connected to the running sandbox (VAT rates, series)."""
    company = env.ref(COMPANY)
    env = env(context={"allowed_company_ids": company.ids})
    engine = env.ref("account_invoice_engine.demo_smartbill_engine")
    # A new API URL clears the saved token: give it again with the sandbox's actual address.
    engine.write({"base_url": sandbox["api_url"], "smartbill_token_input": sandbox["token"]})
    connected = engine.action_test_connection()["params"]
    if connected["type"] != "success":
        raise SystemExit(f"SmartBill: {connected['message']}")
    series = {numbering.remote_id: numbering for numbering in engine.numbering_ids}
    engine.write({
        "numbering_id": series[sandbox["invoice_series"]].id,
        "refund_numbering_id": series[sandbox["credit_series"]].id,
        "smartbill_receipt_numbering_id": series[sandbox["receipt_series"]].id,
    })
    return env, engine


def bench_fixtures(env):
    """What the benchmark invoices with: products, and Romanian companies with valid CIFs on demand."""
    from odoo.addons.account_invoice_engine.engines.smartbill import valid_cif

    def ref(name):
        return env.ref(f"account_invoice_engine.demo_smartbill_{name}")

    def new_customer(index):
        body = str(2_000_000 + index)
        cif = next(f"{body}{digit}" for digit in "0123456789" if valid_cif(f"{body}{digit}"))
        return {
            "name": f"Client {index} SRL", "is_company": True, "street": f"Str. Lipscani {index}", "city": "Sector 3",
            "zip": "030033", "state_id": env.ref("base.RO_B").id, "country_id": env.ref("base.ro").id,
            "vat": f"RO{cif}", "email": f"facturi{index}@client.example", "lang": LANGUAGES["RO"],
        }

    return {"products": ref("product_accounting") + ref("product_guide"), "new_customer": new_customer}


def harness_options(sandbox):
    """How the test harness (tests/harness_smartbill.py) finds the demo's account in the sandbox."""
    return {"cif": sandbox["cif"], "email": sandbox["email"], "token": sandbox["token"]}


def push(env, sandbox, today):
    """Connect (VAT rates and series), post three invoices and the storno of one; return the moves."""
    from odoo import Command

    env, engine = connect(env, sandbox)

    def ref(name):
        return env.ref(f"account_invoice_engine.demo_smartbill_{name}")

    def invoice(partner, lines):
        return env["account.move"].create({
            "move_type": "out_invoice",
            "partner_id": ref(partner).id,
            "invoice_date": today,
            "invoice_line_ids": [
                Command.create({"product_id": ref(product).id, "quantity": quantity, "discount": discount})
                for product, quantity, discount in lines
            ],
        })

    invoices = (
        invoice("partner_print", [("product_accounting", 12, 0), ("product_guide", 5, 0)])
        + invoice("partner_bakery", [("product_payroll", 1, 10)])
        + invoice("partner_person", [("product_guide", 2, 0)])
    )
    invoices.action_post()
    storno = invoices[1]._reverse_moves([{"invoice_date": today, "ref": "Contract reziliat"}])
    storno.action_post()
    return invoices + storno


def after_sending(env, moves):
    """The private person pays cash: a receipt (chitanță) in the receipt series."""
    person_invoice = moves.filtered(lambda move: move.move_type == "out_invoice" and not move.partner_id.is_company)
    env = env(context={"allowed_company_ids": person_invoice.company_id.ids})
    cash = env["account.journal"].search([("company_id", "=", person_invoice.company_id.id), ("type", "=", "cash")],
                                         limit=1)
    env["account.payment.register"].with_context(active_model="account.move", active_ids=person_invoice.ids).create(
        {"journal_id": cash.id, "payment_date": person_invoice.invoice_date})._create_payments()
    env["invoice.engine"]._cron_send()


def notes(move):
    """A storno in its invoice's series, and the cash receipt."""
    words = []
    if move.move_type == "out_refund" and move.engine_remote_series == move.reversed_entry_id.engine_remote_series:
        words.append("a storno in the invoice's series")
    for payment in move.engine_payment_ids.filtered(lambda payment: payment.state == "sent"):
        kind, series, number = (payment.remote_id.split("|") + ["", ""])[:3]
        words.append(f"paid in cash: receipt {series}{number}" if kind == "Chitanta" else f"paid: {kind}")
    return words
