"""The Fakturownia sandbox, over real HTTP, checked against the vendor's own documentation.

The fixtures in ``fixtures/fakturownia/`` are verbatim copies of the request and answer
examples of the vendor's README.md and KSeF.md, each file named after its section: the
sandbox must accept those requests and answer in those shapes.
"""
import json
import re
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import requests

from odoo.tests.common import BaseCase, tagged

from ..sandbox.fakturownia import FakturowniaSandbox

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "fakturownia"
REPO_ROOT = Path(__file__).resolve().parents[1]
NAME, TOKEN = "firma", "Xq7Tk2pLm9ZrW4vBn8Ds"
KSEF, KSEF_TOKEN = "ksef-firma", "Jd8Kq3Wm5Tz1Rb6Yp0Lc"
SELLER_NIP = "5252445767"
BUYER_NIP = "9876543210"


def load_fixture(name, **placeholders):
    """A vendor example with its placeholders (``API_TOKEN``, ``ID_FAKTURY``…) filled in."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    for placeholder, value in placeholders.items():
        text = text.replace(placeholder, str(value))
    return json.loads(text)


def position(name="Usługa", price="100", tax=23, **values):
    return {"name": name, "quantity": 1, "price_net": price, "tax": tax, **values}


@tagged("post_install", "-at_install")
class TestFakturowniaSandbox(BaseCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sb = FakturowniaSandbox(time_scale=0.01).start()
        cls.addClassCleanup(cls.sb.stop)

    def setUp(self):
        super().setUp()
        self.sb.reset()
        self.sb.add_account(NAME, TOKEN)
        self.sb.add_account(KSEF, KSEF_TOKEN, departments=[
            {"name": "Moja Firma Sp. z o.o.", "tax_no": SELLER_NIP},
            {"name": "Moja Firma Oddział", "shortcut": "KRK", "tax_no": SELLER_NIP},
        ], ksef=True)

    # ------------------------------------------------------------------ helpers

    def url(self, account, path):
        return f"{self.sb.account_url(account)}{path}"

    def get(self, path, account=NAME, token=TOKEN, **params):
        return requests.get(self.url(account, path), params={**params, "api_token": token}, timeout=10)

    def write(self, method, path, body, account=NAME, token=TOKEN, **kwargs):
        return requests.request(method, self.url(account, path), json={"api_token": token, **body}, timeout=10,
                                **kwargs)

    def create(self, invoice, account=NAME, token=TOKEN, status=201, **top):
        response = self.write("POST", "/invoices.json", {"invoice": invoice, **top}, account, token)
        self.assertEqual(response.status_code, status, response.text)
        return response.json()

    def ksef_invoice(self, send=False, **values):
        invoice = {"kind": "vat", "buyer_name": "Klient ABC Sp. z o.o.", "buyer_tax_no": BUYER_NIP,
                   "buyer_company": True, "positions": [position()]}
        return self.create({**invoice, **values}, KSEF, KSEF_TOKEN, **({"gov_save_and_send": True} if send else {}))

    def wait_for_ksef(self):
        time.sleep(self.sb.scaled(self.sb.ksef_delay) + 0.02)

    def gov_fields(self, invoice_id, account=KSEF, token=KSEF_TOKEN):
        fields = "id,number,gov_status,gov_id,gov_send_date,gov_sell_date,gov_error_messages," \
                 "gov_verification_link,gov_link,gov_corrected_invoice_number"
        response = self.get(f"/invoices/{invoice_id}.json", account, token, **{"fields[invoice]": fields})
        self.assertEqual(response.status_code, 200, response.text)
        return response.json()

    def assert_error(self, response, status, message):
        self.assertEqual(response.status_code, status, response.text)
        self.assertEqual(response.json(), {"code": "error", "message": message})

    # ------------------------------------------------------------------ accounts and tokens

    def test_both_token_kinds_and_the_generic_host(self):
        self.assertEqual(self.get("/departments.json").status_code, 200)
        self.assertEqual(self.get("/departments.json", token=f"{TOKEN}/{NAME}").status_code, 200)
        # KSeF.md's examples call app.fakturownia.pl: the prefixed token names the account.
        generic = requests.get(f"{self.sb.api_url}/departments.json", params={"api_token": f"{TOKEN}/{NAME}"},
                               timeout=10)
        self.assertEqual(generic.status_code, 200, generic.text)
        self.assertEqual(generic.json()[0]["name"], f"{NAME} Sp. z o.o.")
        bare = requests.get(f"{self.sb.api_url}/departments.json", params={"api_token": TOKEN}, timeout=10)
        self.assertEqual(bare.status_code, 401)

    def test_wrong_token_and_unknown_account(self):
        self.assert_error(self.get("/departments.json", token="wrong"), 401,
                          "Brak dostępu - nieprawidłowy kod autoryzacyjny API (api_token)")
        self.assertEqual(self.get("/departments.json", token=f"{TOKEN}/{KSEF}").status_code, 401)
        for response in (self.get("/departments.json", account="nieznana"),
                         requests.get(f"{self.sb.api_url}/departments.json",
                                      params={"api_token": f"{TOKEN}/nieznana"}, timeout=10)):
            self.assertEqual(response.status_code, 404)
            self.assertIn("text/html", response.headers["Content-Type"])

    def test_token_placement_follows_the_readme(self):
        header_only = requests.get(self.url(NAME, "/departments.json"), headers={"Authorization": TOKEN}, timeout=10)
        self.assertEqual(header_only.status_code, 401, "never a header")
        client = {"client": {"name": "Klient1"}}
        self.assertEqual(self.write("POST", "/clients.json", client).status_code, 201, "body token for writes")
        query_only = requests.post(self.url(NAME, "/clients.json"), params={"api_token": TOKEN}, json=client,
                                   timeout=10)
        self.assertEqual(query_only.status_code, 401)
        # Note 1 / KSeF.md "Sposób 2": POST /invoices.json also takes the token (and
        # gov_save_and_send) in the query.
        sposob_2 = requests.post(self.url(KSEF, "/invoices.json"),
                                 params={"gov_save_and_send": "1", "api_token": KSEF_TOKEN},
                                 json={"invoice": {"buyer_name": "Klient ABC", "buyer_tax_no": BUYER_NIP,
                                                   "positions": [position()]}}, timeout=10)
        self.assertEqual(sposob_2.status_code, 201, sposob_2.text)
        self.assertEqual(sposob_2.json()["gov_status"], "processing")
        deleted = requests.delete(self.url(NAME, f"/clients/{self.sb.state(NAME)['clients'][0]['id']}.json"),
                                  params={"api_token": TOKEN}, timeout=10)
        self.assertEqual(deleted.status_code, 200)

    def test_rate_limit_answers_429_with_retry_after(self):
        self.sb.set_rate_limit(quota=2, window=100)  # 1 s at this time scale
        self.get("/departments.json")
        self.get("/departments.json")
        refused = self.get("/departments.json")
        self.assertEqual(refused.status_code, 429)
        self.assertEqual(refused.json()["code"], "error")
        self.assertLessEqual(float(refused.headers["Retry-After"]), self.sb.scaled(100))
        time.sleep(float(refused.headers["Retry-After"]) + 0.01)
        self.assertEqual(self.get("/departments.json").status_code, 200)

    # ------------------------------------------------------------------ departments and clients

    def test_departments_list_the_accounts_issuing_companies(self):
        departments = self.get("/departments.json", KSEF, KSEF_TOKEN).json()
        self.assertEqual([(d["name"], d["shortcut"], d["tax_no"], d["default"]) for d in departments], [
            ("Moja Firma Sp. z o.o.", "Moja Firma Sp. z o.o.", SELLER_NIP, True),
            ("Moja Firma Oddział", "KRK", SELLER_NIP, False),
        ])

    def test_readme_client_examples_and_filters(self):
        company = self.write("POST", "/clients.json", load_fixture("README_k3_dodanie_klienta.json", API_TOKEN=TOKEN),
                             token=None)
        self.assertEqual(company.status_code, 201, company.text)
        self.assertIs(company.json()["company"], True, "every new client is a company by default")
        person = self.write("POST", "/clients.json",
                            load_fixture("README_k3_dodanie_klienta_osoba_prywatna.json", API_TOKEN=TOKEN), token=None)
        self.assertEqual(person.status_code, 201, person.text)
        self.assertEqual((person.json()["company"], person.json()["name"]), (False, "LAST_NAME"))
        nameless = self.write("POST", "/clients.json", {"client": {"email": "x@example.pl"}})
        self.assert_error(nameless, 422, {"name": ["- nie może być puste"]})
        self.write("POST", "/clients.json", {"client": {"name": "Z UI", "tax_no": "627-261-66-81", "external_id": 100}})
        by_tax_no = self.get("/clients.json", tax_no="6272616681").json()
        self.assertEqual(sorted(c["name"] for c in by_tax_no), ["Klient1", "Z UI"])
        self.assertEqual([c["name"] for c in self.get("/clients.json", external_id="100").json()], ["Z UI"])
        self.assertEqual([c["name"] for c in self.get("/clients.json", email="EMAIL@gmail.com").json()], ["Klient1"])

    # ------------------------------------------------------------------ invoices

    def test_readme_new_invoice_example_and_its_answer(self):
        answer = self.create_from_fixture("README_f7_dodanie_nowej_faktury.json")
        for name in ("id", "number", "kind", "sell_date", "issue_date", "payment_to", "seller_name", "seller_tax_no",
                     "buyer_name", "buyer_email", "buyer_tax_no", "price_net", "price_tax", "price_gross", "currency",
                     "status", "paid", "token", "view_url", "positions", "gov_status", "gov_id"):
            self.assertIn(name, answer)
        # 10.23 gross at 23 % and 50 gross at 0 %, each position rounded, summed: Ruby decimals.
        self.assertEqual((answer["price_net"], answer["price_tax"], answer["price_gross"]), ("58.32", "1.91", "60.23"))
        self.assertEqual((answer["paid"], answer["positions"][1]["quantity"], answer["positions"][0]["tax"]),
                         ("0.0", "3.0", "23"))
        self.assertEqual((answer["status"], answer["payment_to"], answer["seller_name"]),
                         ("issued", "2013-01-23", "Wystawca Sp. z o.o."))
        # "Klient: nowy lub istniejący": the buyer became a client, and is matched the next time.
        again = self.create_from_fixture("README_f7_dodanie_nowej_faktury.json")
        clients = self.sb.state(NAME)["clients"]
        self.assertEqual([(c["name"], c["tax_no"]) for c in clients], [("Klient1 Sp. z o.o.", "6272616681")])
        self.assertEqual(again["client_id"], answer["client_id"])

    def create_from_fixture(self, name, account=NAME, token=TOKEN, **placeholders):
        response = requests.post(self.url(account, "/invoices.json"),
                                 json=load_fixture(name, API_TOKEN=token, TWOJ_TOKEN=token, **placeholders), timeout=10)
        self.assertEqual(response.status_code, 201, response.text)
        return response.json()

    def test_client_and_department_data_override_the_fields_sent(self):
        client = self.write("POST", "/clients.json", {"client": {"name": "Karta Klienta", "tax_no": BUYER_NIP}}).json()
        department = self.get("/departments.json").json()[0]
        answer = self.create({"client_id": client["id"], "buyer_name": "Inna nazwa", "department_id": department["id"],
                              "seller_name": "Inny sprzedawca", "positions": [position()]})
        self.assertEqual((answer["buyer_name"], answer["seller_name"]), ("Karta Klienta", department["name"]))
        self.assert_error(self.write("POST", "/invoices.json", {"invoice": {"client_id": 999, "positions": [position()]}}),
                          422, {"client_id": ["- nie istnieje"]})

    def test_payment_term_kinds(self):
        base = {"issue_date": "2026-03-02", "buyer_name": "K", "positions": [position()]}
        self.assertEqual(self.create({**base, "payment_to_kind": "other_date", "payment_to": "2026-03-20"})["payment_to"],
                         "2026-03-20")
        self.assertEqual(self.create({**base, "payment_to_kind": 5})["payment_to"], "2026-03-07")
        self.assertIsNone(self.create({**base, "payment_to_kind": "off", "payment_to": "2026-03-20"})["payment_to"])

    def test_oid_unique_refuses_a_second_invoice_with_the_same_oid(self):
        invoice = {"buyer_name": "Klient", "oid": "zamowienie10021", "oid_unique": "yes", "positions": [position()]}
        first = self.create(invoice)
        refused = self.write("POST", "/invoices.json", {"invoice": invoice})
        self.assert_error(refused, 422, {"oid": ["- jest już zajęte"]})
        self.create({**invoice, "oid_unique": None}, status=201)  # the guard is opt-in, per invoice
        listed = self.get("/invoices.json", period="all", oid="zamowienie10021").json()
        self.assertEqual(len(listed), 2)
        self.assertEqual(listed[0]["id"], first["id"])

    def test_discounts_only_with_show_discount_and_a_matching_kind(self):
        discounted = position(price="33.33", quantity=3, discount_percent="10")
        net = lambda **values: Decimal(self.create({"buyer_name": "K", "positions": [discounted], **values})["price_net"])  # noqa: E731
        self.assertEqual(net(), Decimal("99.99"), "silently ignored without show_discount (note 10)")
        # percent_total: round(3 × 33.33 × 0.9) = 89.99; the account's percent_unit rounds the unit
        # price first: 3 × round(29.997) = 90.00.
        self.assertEqual(net(show_discount=True, discount_kind="percent_total"), Decimal("89.99"))
        self.assertEqual(net(show_discount=True), Decimal("90.00"))
        self.assertEqual(net(show_discount=True, discount_kind="amount"), Decimal("99.99"), "no amount discount given")

    def test_calculating_strategy_sum_or_vat_on_the_net_per_rate(self):
        positions = [position(price="0.07"), position(price="0.07")]
        tax = lambda **values: self.create({"buyer_name": "K", "positions": positions, **values})["price_tax"]  # noqa: E731
        self.assertEqual(tax(calculating_strategy={"position": "default", "sum": "sum"}), "0.04",
                         "0.0161 rounds to 0.02 on each position")
        self.assertEqual(tax(), "0.04", "sum when no strategy is sent")
        self.assertEqual(tax(calculating_strategy={"sum": "keep_net"}), "0.03", "0.0322 once")
        self.assertEqual(tax(calculating_strategy={"sum": "keep_gross"}), "0.03", "0.17 gross at 23 %: 0.0318")

    def test_list_filters_pages_and_positions(self):
        for day in ("2026-03-01", "2026-03-02", "2026-03-02"):
            self.create({"issue_date": day, "buyer_name": "K", "positions": [position()]})
        listed = self.get("/invoices.json", period="more", date_from="2026-03-02", date_to="2026-03-02").json()
        self.assertEqual(len(listed), 2)
        self.assertNotIn("positions", listed[0])
        with_positions = self.get("/invoices.json", period="all", include_positions="true", per_page=2, page=2).json()
        self.assertEqual(len(with_positions), 1)
        self.assertEqual(len(with_positions[0]["positions"]), 1)
        self.assertEqual(self.get("/invoices.json").json(), [], "no period: this month only")

    # ------------------------------------------------------------------ corrections

    def test_readme_correction_examples_are_accepted(self):
        client = self.write("POST", "/clients.json", {"client": {"name": "Klient"}}).json()
        original = self.create({"client_id": client["id"], "positions": [
            {"name": "Product A1", "quantity": 2, "total_price_gross": 20, "tax": 23}]})
        for name in ("README_f9_dodanie_nowej_faktury_korygujacej.json", "README_f20_faktura_korekta.json"):
            correction = load_fixture(name, API_TOKEN=TOKEN)
            correction["invoice"].update(invoice_id=str(original["id"]), from_invoice_id=str(original["id"]),
                                         client_id=client["id"])
            response = requests.post(self.url(NAME, "/invoices.json"), json=correction, timeout=10)
            self.assertEqual(response.status_code, 201, response.text)
            answer = response.json()
            self.assertEqual((answer["kind"], answer["price_gross"], answer["correction_reason"]),
                             ("correction", "-10.0", "Zła ilość"))
            self.assertEqual(answer["positions"][0]["kind"], "correction")
            full = self.get(f"/invoices/{answer['id']}.json", correction_positions="full").json()["positions"][0]
            self.assertEqual((full["correction_before_attributes"]["quantity"],
                              full["correction_after_attributes"]["kind"]), ("2", "correction_after"))

    def test_a_correction_needs_kind_before_after_and_an_existing_invoice(self):
        correction = load_fixture("README_f9_dodanie_nowej_faktury_korygujacej.json", API_TOKEN=TOKEN)
        original = self.create({"buyer_name": "K", "positions": [position()]})
        invoice = correction["invoice"]
        invoice.update(invoice_id=original["id"], client_id=original["client_id"])
        for strip in ("kind", "correction_before_attributes", "correction_after_attributes"):
            broken = json.loads(json.dumps(correction))
            del broken["invoice"]["positions"][0][strip]
            response = requests.post(self.url(NAME, "/invoices.json"), json=broken, timeout=10)
            self.assertEqual(response.status_code, 422, strip)
            self.assertEqual(list(response.json()["message"]), ["positions"])
        invoice["invoice_id"] = 999999
        self.assert_error(requests.post(self.url(NAME, "/invoices.json"), json=correction, timeout=10),
                          422, {"invoice_id": ["- nie istnieje"]})

    def test_a_ksef_correction_keeps_the_buyers_identity(self):
        original = self.ksef_invoice(send=True)
        self.wait_for_ksef()
        correction = {"kind": "correction", "invoice_id": original["id"], "from_invoice_id": original["id"],
                      "client_id": original["client_id"], "correction_reason": "Zła ilość", "positions": [
                          {**position(price="-100"), "kind": "correction",
                           "correction_before_attributes": {**position(), "kind": "correction_before"},
                           "correction_after_attributes": {**position(price="0"), "kind": "correction_after"}}]}
        accepted = self.create(correction, KSEF, KSEF_TOKEN)
        self.assertEqual(self.gov_fields(accepted["id"])["gov_corrected_invoice_number"],
                         self.gov_fields(original["id"])["gov_id"])
        other = self.write("POST", "/clients.json", {"client": {"name": "Inny", "tax_no": "6272616681"}}, KSEF,
                           KSEF_TOKEN).json()
        refused = self.write("POST", "/invoices.json", {"invoice": {**correction, "client_id": other["id"]}},
                             KSEF, KSEF_TOKEN)
        self.assertEqual(refused.status_code, 422)
        self.assertIn("buyer_tax_no", refused.json()["message"])

    # ------------------------------------------------------------------ KSeF

    def test_ksef_quick_start_and_status_progression(self):
        answer = requests.post(f"{self.sb.api_url}/invoices.json", timeout=10, json=load_fixture(
            "KSeF_quick_start.json", TWOJ_TOKEN=f"{KSEF_TOKEN}/{KSEF}")).json()
        self.assertEqual((answer["gov_status"], answer["gov_id"]), ("processing", None))
        self.wait_for_ksef()
        status = self.gov_fields(answer["id"])
        self.assertEqual(set(status) - {"id", "number"}, set(load_fixture("KSeF_status_odpowiedz.json")))
        self.assertEqual(status["gov_status"], "ok")
        self.assertRegex(status["gov_id"], rf"^{SELLER_NIP}-\d{{8}}-[0-9A-F]{{12}}$")
        self.assertTrue(status["gov_verification_link"].startswith(
            f"https://ksef.mf.gov.pl/web/verify/{status['gov_id']}/"))
        self.assertIsNone(status["gov_error_messages"])
        self.assertNotIn("gov_error_messages", self.get(f"/invoices/{answer['id']}.json", KSEF, KSEF_TOKEN).json(),
                         "asked for explicitly (note 12)")

    def test_ksef_curl_examples_are_accepted(self):
        for name in ("KSeF_utworzenie_faktury_z_danymi_ksef.json", "KSeF_rozbudowany_przyklad_issuer_recipient_zw.json"):
            answer = self.create_from_fixture(name, KSEF, KSEF_TOKEN)
            self.assertEqual(answer["gov_status"], None, "sent only when asked or by the automatic mode")
        answer = self.create(load_fixture("KSeF_przyklad_faktury_ze_stawka_np.json")["invoice"], KSEF, KSEF_TOKEN)
        self.assertEqual((answer["positions"][0]["tax"], answer["buyer_tax_no_kind"]), ("np", "nip_ue"),
                         "the kind follows the DE prefix when left empty")

    def test_ksef_validation_error_has_the_documented_shape(self):
        invoice = {"kind": "vat", "buyer_name": "Klient", "buyer_company": True, "buyer_phone": "+48 123 456 789 012",
                   "positions": [position(tax="zw")]}
        refused = self.write("POST", "/invoices.json", {"invoice": invoice}, KSEF, KSEF_TOKEN)
        self.assertEqual(refused.status_code, 422)
        self.assertEqual(refused.json(), load_fixture("KSeF_blad_walidacji_422.json"))

    def test_with_validation_off_the_errors_land_in_gov_error_messages(self):
        self.sb.add_account("lenient", "Lm4Nq8Rv2Tx6Zb0Yc3Wd", ksef=True, validate_for_gov=False)
        saved = self.create({"buyer_name": "Klient", "buyer_tax_no": BUYER_NIP, "buyer_phone": "+48 123 456 789 012",
                             "positions": [position(tax="zw")]}, "lenient", "Lm4Nq8Rv2Tx6Zb0Yc3Wd",
                            gov_save_and_send=True)
        messages = self.get(f"/invoices/{saved['id']}.json", "lenient", "Lm4Nq8Rv2Tx6Zb0Yc3Wd",
                            **{"fields[invoice]": "gov_error_messages"}).json()
        self.assertEqual(messages, load_fixture("KSeF_gov_error_messages.json"))
        self.assertEqual(saved["gov_status"], "send_error")

    def test_ksef_field_limits(self):
        self.ksef_invoice(positions=[position("x" * 256)], description="y" * 256)
        cases = [
            ({"positions": [position("x" * 257)]}, "positions.name", 256),
            ({"description": "y" * 257}, "description", 256),
            ({"buyer_phone": "1" * 17}, "buyer_phone", 16),
        ]
        for values, field_name, limit in cases:
            invoice = {"buyer_name": "K", "buyer_tax_no": BUYER_NIP, "positions": [position()], **values}
            refused = self.write("POST", "/invoices.json", {"invoice": invoice}, KSEF, KSEF_TOKEN)
            self.assert_error(refused, 422, {field_name: [f"- pole jest za długie (maksymalna ilość znaków: {limit})"]})
        # Without KSeF the same description is fine.
        self.create({"buyer_name": "K", "description": "y" * 300, "positions": [position()]})

    def test_outcomes_resubmission_and_demo(self):
        self.sb.force_ksef_outcome(KSEF, "send_error", ["Błąd 21405"])
        self.sb.force_ksef_outcome(KSEF, "server_error")
        first = self.ksef_invoice(send=True)
        self.wait_for_ksef()
        self.assertEqual(self.gov_fields(first["id"])["gov_error_messages"], ["Błąd 21405"])
        resent = self.get(f"/invoices/{first['id']}.json", KSEF, KSEF_TOKEN, send_to_ksef="yes").json()
        self.assertEqual(resent["gov_status"], "processing")
        self.wait_for_ksef()
        status = self.gov_fields(first["id"])
        self.assertEqual((status["gov_status"], status["gov_error_messages"]),
                         ("server_error", ["Błąd serwera KSeF - spróbuj ponownie później"]))
        self.get(f"/invoices/{first['id']}.json", KSEF, KSEF_TOKEN, send_to_ksef="yes")
        self.wait_for_ksef()
        self.assertEqual(self.gov_fields(first["id"])["gov_status"], "ok")
        self.sb.add_account("demo", "Dm5Pq9Wr3Tv7Zx1Yb4Kc", ksef=True, demo=True)
        demo = self.create({"buyer_name": "K", "buyer_tax_no": BUYER_NIP, "positions": [position()]}, "demo",
                           "Dm5Pq9Wr3Tv7Zx1Yb4Kc", gov_save_and_send=True)
        self.assertEqual(demo["gov_status"], "demo_processing")
        self.wait_for_ksef()
        self.assertEqual(self.gov_fields(demo["id"], "demo", "Dm5Pq9Wr3Tv7Zx1Yb4Kc")["gov_status"], "demo_ok")
        deleted = requests.delete(self.url("demo", f"/invoices/{demo['id']}.json"),
                                  params={"api_token": "Dm5Pq9Wr3Tv7Zx1Yb4Kc"}, timeout=10)
        self.assertEqual(deleted.status_code, 200, "DEMO locks nothing")

    def test_not_connected_not_applicable_and_automatic_sending(self):
        plain = self.create({"buyer_name": "K", "positions": [position()]}, gov_save_and_send=True)
        self.assertEqual(plain["gov_status"], "not_connected")
        proforma = self.create({"kind": "proforma", "buyer_name": "K", "buyer_tax_no": BUYER_NIP,
                                "positions": [position()]}, KSEF, KSEF_TOKEN, gov_save_and_send=True)
        self.assertEqual(proforma["gov_status"], "not_applicable")
        self.sb.add_account("auto", "Au2Pq9Wr3Tv7Zx1Yb4Kc", ksef=True, auto_send="pl_companies")
        sent = {}
        for company in (True, False):
            answer = self.create({"buyer_name": "K", "buyer_tax_no": BUYER_NIP, "buyer_company": company,
                                  "buyer_first_name": "Jan", "buyer_last_name": "K", "positions": [position()]},
                                 "auto", "Au2Pq9Wr3Tv7Zx1Yb4Kc")
            sent[company] = answer["gov_status"]
        self.assertEqual(sent, {True: "processing", False: None}, "buyer_company decides")

    def test_a_ksef_invoice_is_locked_once_sent(self):
        invoice = self.ksef_invoice(send=True)
        self.wait_for_ksef()
        path = f"/invoices/{invoice['id']}.json"
        for response in (self.write("PUT", path, {"invoice": {"buyer_name": "Nowa"}}, KSEF, KSEF_TOKEN),
                         requests.delete(self.url(KSEF, path), params={"api_token": KSEF_TOKEN}, timeout=10)):
            self.assertEqual(response.status_code, 422)
            self.assertIn("Wystaw fakturę korygującą", response.json()["message"])
        cancel = load_fixture("README_f16_anulowanie_faktury.json", API_TOKEN=KSEF_TOKEN, ID_FAKTURY=invoice["id"])
        refused = requests.post(self.url(KSEF, "/invoices/cancel.json"), json=cancel, timeout=10)
        self.assertEqual(refused.status_code, 422)
        self.assertIn("korekty do zera", refused.json()["message"])

    def test_readme_cancel_example(self):
        invoice = self.create({"buyer_name": "K", "positions": [position()]})
        cancel = load_fixture("README_f16_anulowanie_faktury.json", API_TOKEN=TOKEN, ID_FAKTURY=invoice["id"])
        response = requests.post(self.url(NAME, "/invoices/cancel.json"), json=cancel, timeout=10)
        self.assertEqual(response.status_code, 200, response.text)
        answer = self.get(f"/invoices/{invoice['id']}.json", **{"additional_fields[invoice]": "cancel_reason"}).json()
        self.assertEqual((answer["status"], answer["cancel_reason"]), ("cancelled", "Powód anulowania (opcjonalnie)"))

    def test_ksef_files_once_accepted(self):
        invoice = self.ksef_invoice(send=True)
        attachment = self.url(KSEF, f"/invoices/{invoice['id']}/attachment")
        early = requests.get(attachment, params={"kind": "gov", "api_token": KSEF_TOKEN}, timeout=10)
        self.assertEqual(early.status_code, 404)
        self.wait_for_ksef()
        gov_id = self.gov_fields(invoice["id"])["gov_id"]
        for kind, expected in (("gov", BUYER_NIP), ("gov_upo", gov_id)):
            redirect = requests.get(attachment, params={"kind": kind, "api_token": KSEF_TOKEN}, timeout=10,
                                    allow_redirects=False)
            self.assertEqual(redirect.status_code, 302)
            self.assertNotIn("api_token", redirect.headers["Location"])
            file = requests.get(redirect.headers["Location"], timeout=10)
            self.assertEqual(file.headers["Content-Type"], "text/xml; charset=utf-8")
            self.assertIn(expected, file.text)

    def test_email_refusal_comes_under_http_200(self):
        invoice = self.ksef_invoice(send=True)
        send = lambda: requests.post(self.url(KSEF, f"/invoices/{invoice['id']}/send_by_email.json"),  # noqa: E731
                                     params={"api_token": KSEF_TOKEN}, timeout=10)
        refused = send()
        self.assertEqual(refused.status_code, 200)
        self.assertEqual(refused.json(), load_fixture("KSeF_email_brak_numeru_ksef.json"))
        self.wait_for_ksef()
        self.assertEqual(send().json()["status"], "ok")
        self.assertEqual(self.get(f"/invoices/{invoice['id']}.json", KSEF, KSEF_TOKEN).json()["status"], "sent")

    # ------------------------------------------------------------------ payments and PDF

    def test_readme_payment_examples_settle_in_array_order(self):
        first = self.create({"buyer_name": "K", "positions": [position(price="100", tax=0)]})
        second = self.create({"buyer_name": "K", "positions": [position(price="200", tax=0)]})
        body = load_fixture("README_pl5_platnosc_powiazana_z_fakturami.json", API_TOKEN=TOKEN)
        body["banking_payment"]["invoice_ids"] = [first["id"], second["id"]]
        response = requests.post(self.url(NAME, "/banking/payments.json"), json=body, timeout=10)
        self.assertEqual(response.status_code, 201, response.text)
        payment = response.json()
        statuses = [self.get(f"/invoices/{i['id']}.json").json() for i in (first, second)]
        self.assertEqual([(s["status"], s["paid"]) for s in statuses], [("paid", "100.0"), ("partial", "100.0")])
        connected = self.get(f"/invoices/{second['id']}.json", **{"additional_fields[invoice]": "connected_payments"})
        self.assertEqual([p["id"] for p in connected.json()["connected_payments"]], [payment["id"]])
        # Note 5: one payment is read in the singular, deleted in the plural.
        self.assertEqual(self.get(f"/banking/payment/{payment['id']}.json").json()["price"], "200.0")
        self.assertEqual(self.get(f"/banking/payments/{payment['id']}.json").status_code, 404)
        deleted = requests.delete(self.url(NAME, f"/banking/payments/{payment['id']}.json"),
                                  params={"api_token": TOKEN}, timeout=10)
        self.assertEqual(deleted.status_code, 200)
        self.assertEqual(self.get(f"/invoices/{first['id']}.json").json()["status"], "issued")
        loose = requests.post(self.url(NAME, "/banking/payments.json"), timeout=10,
                              json=load_fixture("README_pl3_dodanie_nowej_platnosci.json", API_TOKEN=TOKEN))
        self.assertEqual((loose.status_code, loose.json()["price"]), (201, "100.05"))

    def test_a_payment_made_in_the_web_application(self):
        invoice = self.create({"buyer_name": "K", "positions": [position(price="100")]})
        self.sb.pay_in_ui(NAME, invoice["id"], "123")
        answer = self.get(f"/invoices/{invoice['id']}.json", **{"additional_fields[invoice]": "connected_payments"}).json()
        self.assertEqual((answer["status"], answer["paid"], answer["connected_payments"][0]["kind"]),
                         ("paid", "123.0", "manual"))

    def test_pdf(self):
        invoice = self.create({"buyer_name": "K", "positions": [position()]})
        pdf = self.get(f"/invoices/{invoice['id']}.pdf")
        self.assertEqual(pdf.headers["Content-Type"], "application/pdf")
        self.assertTrue(pdf.content.startswith(b"%PDF"))
        self.assertEqual(self.get("/invoices/1.pdf").status_code, 404)

    def test_record_not_found_is_json_and_state_is_a_copy(self):
        self.assert_error(self.get("/invoices/1.json"), 404, "Nie znaleziono rekordu")
        invoice = self.create({"buyer_name": "K", "positions": [position()]})
        state = self.sb.state(NAME)
        state["invoices"][0]["number"] = "changed"
        self.assertEqual(self.sb.state(NAME)["invoices"][0]["number"], invoice["number"])
        self.assertRegex(invoice["number"], r"^FV/1/\d{4}$")

    # ------------------------------------------------------------------ running it

    def test_python_m_sandbox_serves_the_demo_account(self):
        process = subprocess.Popen([sys.executable, "-m", "sandbox", "fakturownia", "--port", "0", "--seed-demo"],
                                   cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
        self.addCleanup(process.wait, 10)
        self.addCleanup(process.terminate)
        info = json.loads(process.stdout.readline())
        departments = requests.get(f"{info['account_url']}/departments.json", params={"api_token": info["api_token"]},
                                   timeout=10).json()
        self.assertEqual([d["shortcut"] for d in departments], ["Centrala", "Kraków"])
        self.assertTrue(re.match(r"^http://127\.0\.0\.1:\d+/a/demo-firma$", info["account_url"]))
