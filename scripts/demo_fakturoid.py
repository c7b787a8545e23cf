"""Fakturoid's part of the demo: a Czech company in CZK pushing to the Fakturoid sandbox.

Its demo data is ``demo/invoice_engine_demo_fakturoid.xml`` (Czech and Slovak customers with
IČO/DIČ, products, an engine pointing at the sandbox). ``scripts/demo.py`` finds this module by
its name, makes the company Czech with the constants below (l10n_cz's chart, its 21 % and 12 %
sale taxes, customers in Czech and Slovak) and calls ``push``.
"""
ENGINE = "fakturoid"
LABEL = "Fakturoid"
COMPANY = "account_invoice_engine.demo_company"
LOCALIZATION = "l10n_cz"
CHART_TEMPLATE = "cz"
LANGUAGES = {"CZ": "cs_CZ", "SK": "sk_SK"}  # by the partner's country
PRODUCT_TAXES = {
    "account_invoice_engine.demo_product_consulting": "l10n_cz_21_domestic_supplies",
    "account_invoice_engine.demo_product_training": "l10n_cz_21_domestic_supplies",
    "account_invoice_engine.demo_product_book": "l10n_cz_12_domestic_supplies",
}


def connect(env, sandbox):
    """The demo company's environment and its engine, pointed at the running sandbox."""
    company = env.ref(COMPANY)
    env = env(context={"allowed_company_ids": company.ids})
    engine = env.ref("account_invoice_engine.demo_engine")
    # A new API URL clears the saved secret: give it again with the sandbox's actual address.
    engine.write({"base_url": sandbox["api_url"], "fakturoid_client_secret_input": sandbox["client_secret"]})
    return env, engine


def ico(index):
    """A company number (IČO) with its check digit: the VAT number (DIČ) made of it passes base_vat."""
    body = f"{7_000_000 + index:07d}"
    remainder = sum(int(digit) * weight for digit, weight in zip(body, range(8, 1, -1))) % 11
    return f"{body}{(11 - remainder) % 10}"


def bench_fixtures(env):
    """What the benchmark invoices with: products, and customers new to Fakturoid on demand."""
    ref = env.ref

    def new_customer(index):
        number = ico(index)
        return {
            "name": f"Zákazník {index} s.r.o.", "is_company": True, "street": f"Dlouhá {index}", "city": "Brno",
            "zip": "60200", "country_id": ref("base.cz").id, "company_registry": number, "vat": f"CZ{number}",
            "email": f"fakturace{index}@zakaznik.example", "lang": LANGUAGES["CZ"],
        }

    return {
        "products": ref("account_invoice_engine.demo_product_consulting") + ref("account_invoice_engine.demo_product_book"),
        "new_customer": new_customer,
    }


def push(env, sandbox, today):
    """Post four invoices (one in EUR, one discounted) and one credit note; return the moves."""
    from odoo import Command

    env, engine = connect(env, sandbox)

    def ref(name):
        return env.ref(f"account_invoice_engine.{name}")

    def invoice(partner, lines, **values):
        return env["account.move"].create({
            "move_type": "out_invoice",
            "partner_id": ref(partner).id,
            "invoice_date": today,
            "invoice_line_ids": [
                Command.create({"product_id": ref(product).id, "quantity": quantity, "discount": discount})
                for product, quantity, discount in lines
            ],
            **values,
        })

    invoices = (
        invoice("demo_partner_bakery", [("demo_product_consulting", 10, 0), ("demo_product_book", 2, 0)])
        + invoice("demo_partner_builder", [("demo_product_training", 2, 10)])
        + invoice("demo_partner_software", [("demo_product_consulting", 8, 0)], currency_id=env.ref("base.EUR").id)
        + invoice("demo_partner_cafe", [("demo_product_book", 3, 0)])
    )
    invoices.action_post()
    credit_note = invoices[1]._reverse_moves([{"invoice_date": today, "ref": "Jeden den školení zrušen"}])
    credit_note.invoice_line_ids.quantity = 1
    credit_note.action_post()
    return invoices + credit_note


def harness_options(sandbox):
    """How the test harness (tests/harness_fakturoid.py) finds the demo's account in the sandbox."""
    return {"account": sandbox["slug"], "client_id": sandbox["client_id"], "client_secret": sandbox["client_secret"]}
