"""Fakturownia's part of the demo: a Polish company in PLN pushing to the Fakturownia sandbox, with KSeF.

Its demo data is ``demo/invoice_engine_demo_fakturownia.xml`` (a company and an individual
customer, products, the account's two departments, an engine pointing at the sandbox that sends
to KSeF on creation). ``scripts/demo.py`` finds this module by its name, makes the company Polish
with the constants below (l10n_pl's chart, its 23 % and 8 % sale taxes, customers in Polish),
then calls ``after_localizing`` (the sales journals), ``push`` and ``after_sending``.
"""
import sys
import time

ENGINE = "fakturownia"
LABEL = "Fakturownia"
KSEF_WAIT = 20  # seconds: the sandbox's KSeF answers about two seconds after each submission
COMPANY = "account_invoice_engine.demo_fakturownia_company"
LOCALIZATION = "l10n_pl"
CHART_TEMPLATE = "pl"
LANGUAGES = {"PL": "pl_PL"}  # by the partner's country
PRODUCT_TAXES = {
    "account_invoice_engine.demo_fakturownia_product_consulting": "vs_kraj_usl_23",
    "account_invoice_engine.demo_fakturownia_product_training": "vs_kraj_usl_23",
    "account_invoice_engine.demo_fakturownia_product_book": "vs_kraj_8",
}
# Sales journals (code, name, the department numbering them, when they send): the office sends on
# posting, the online shop with the button.
SALES_CHANNELS = (
    ("FVB", "Sprzedaż – biuro", "demo_fakturownia_department_head_office", "auto"),
    ("SKL", "Sklep internetowy", "demo_fakturownia_department_krakow", "manual"),
)


def after_localizing(env):
    """The two sales channels, made after the chart, which replaces the journals of the company."""
    journals = env["account.journal"].create([{
        "name": name, "code": code, "type": "sale", "company_id": env.ref(COMPANY).id,
        "invoice_engine_numbering_id": env.ref(f"account_invoice_engine.{department}").id,
        "invoice_engine_auto_send": sending,
    } for code, name, department, sending in SALES_CHANNELS])
    env.ref("account_invoice_engine.demo_fakturownia_engine").journal_ids = journals


def sales_journal(env, code):
    return env["account.journal"].search([("company_id", "=", env.ref(COMPANY).id), ("code", "=", code)])


def connect(env, sandbox):
    """The demo company's environment and its engine, connected to the running sandbox (departments)."""
    company = env.ref(COMPANY)
    env = env(context={"allowed_company_ids": company.ids})
    engine = env.ref("account_invoice_engine.demo_fakturownia_engine")
    # A new account link clears the saved token: give it again with the sandbox's actual address.
    engine.write({"base_url": sandbox["account_url"], "fakturownia_api_token_input": sandbox["api_token"]})
    engine.action_test_connection()  # the departments, as a person connects the engine
    if engine.state != "connected":
        raise SystemExit(f"The Fakturownia demo engine did not connect: {engine.last_error}")
    return env, engine


def bench_fixtures(env):
    """What the benchmark invoices with: products, and Polish companies with valid NIPs on demand."""

    def ref(name):
        return env.ref(f"account_invoice_engine.demo_fakturownia_{name}")

    def nip(index):
        for body in (f"{525_000_000 + index * 10 + shift:09d}" for shift in range(10)):
            check = sum(int(digit) * weight for digit, weight in zip(body, (6, 5, 7, 2, 3, 4, 5, 6, 7))) % 11
            if check < 10:
                return f"{body}{check}"
        raise ValueError(index)

    def new_customer(index):
        return {
            "name": f"Klient {index} Sp. z o.o.", "is_company": True, "street": f"ul. Długa {index}",
            "city": "Kraków", "zip": "31-147", "country_id": env.ref("base.pl").id, "vat": f"PL{nip(index)}",
            "email": f"faktury{index}@klient.example", "lang": LANGUAGES["PL"],
        }

    return {"products": ref("product_consulting") + ref("product_book"), "new_customer": new_customer}


def harness_options(sandbox):
    """How the test harness (tests/harness_fakturownia.py) finds the demo's account in the sandbox."""
    return {"account": sandbox["account"], "token": sandbox["api_token"]}


def push(env, sandbox, today):
    """Post three invoices on two channels and one correction; return the moves."""
    from odoo import Command

    def ref(name):
        return env.ref(f"account_invoice_engine.demo_fakturownia_{name}")

    env, engine = connect(env, sandbox)

    def invoice(journal, partner, lines):
        return env["account.move"].create({
            "move_type": "out_invoice",
            "journal_id": sales_journal(env, journal).id,
            "partner_id": ref(partner).id,
            "invoice_date": today,
            "invoice_line_ids": [
                Command.create({"product_id": ref(product).id, "quantity": quantity, "discount": discount})
                for product, quantity, discount in lines
            ],
        })

    office = (
        invoice("FVB", "partner_bakery", [("product_consulting", 6, 0), ("product_book", 10, 5)])
        + invoice("FVB", "partner_bakery", [("product_training", 2, 0)])
    )
    shop = invoice("SKL", "partner_person", [("product_book", 2, 0)])
    (office + shop).action_post()
    shop.action_engine_send()  # the online shop's channel sends with the button only
    correction = office[1]._reverse_moves([{"invoice_date": today, "ref": "Jeden dzień szkolenia odwołany"}])
    correction.invoice_line_ids.quantity = 1
    correction.action_post()
    return office + shop + correction


def after_sending(env, moves):
    """Run the status job until KSeF has numbered every document and its files are attached."""
    deadline = time.monotonic() + KSEF_WAIT
    told = -1
    while time.monotonic() < deadline:
        env["invoice.engine"]._cron_refresh_status()
        moves.invalidate_recordset()
        numbered = moves.filtered(lambda move: move.engine_authority_state == "accepted")
        if len(numbered) != told:
            told = len(numbered)
            print(f"==> KSeF numbers arrived for {told} of {len(moves)} documents", file=sys.stderr, flush=True)
        if numbered == moves and all(move.engine_authority_attachment_ids for move in moves):
            return
        time.sleep(1)


def notes(move):
    department = move.journal_id.invoice_engine_numbering_id.name or ""
    state = dict(move._fields["engine_authority_state"]._description_selection(move.env))
    ksef = (f"KSeF {move.engine_authority_number}" if move.engine_authority_number
            else f"KSeF: {state.get(move.engine_authority_state, 'not read yet')}")
    return [ksef, department.rpartition("(")[2].rstrip(")")] if department else [ksef]
