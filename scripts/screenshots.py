#!/usr/bin/env python3
"""Screenshots of the main screens, from a running demo, for the README.

    bash scripts/demo.sh                        # in another terminal: the demo, served on :8069
    python3 scripts/screenshots.py [--url http://localhost:8069] [--out docs/screenshots]

Signs in as the demo's administrator, then drives headless Chromium over its DevTools protocol
(websocket-client, which the test command installs for Odoo's tours) and saves one PNG per screen:
a sent invoice with its legal number, the Send & Print wizard on it, the engine's form, and Send &
Print on a SmartBill invoice of the Romanian company (Odoo's own e-Factura off, with the reason).
"""
import argparse
import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import requests
import websocket

ROOT = Path(__file__).resolve().parent.parent
SETTLE_SECONDS = 1.5  # the web client finishes rendering after the element appears


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://localhost:8069")
    parser.add_argument("--db", default="aie_demo")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    return parser.parse_args()


class Odoo:
    def __init__(self, url, db):
        self.url, self.session = url, requests.Session()
        self.call("/web/session/authenticate", {"db": db, "login": "admin", "password": "admin"})

    def call(self, path, params):
        answer = self.session.post(self.url + path, json={"jsonrpc": "2.0", "params": params}, timeout=60).json()
        if answer.get("error"):
            raise SystemExit(f"{path}: {answer['error']['data']['message']}")
        return answer["result"]

    def search(self, model, domain):
        return self.call("/web/dataset/call_kw", {
            "model": model, "method": "search", "args": [domain], "kwargs": {"limit": 1, "order": "id"},
        })

    def read(self, model, record_id, fields):
        [values] = self.call("/web/dataset/call_kw", {
            "model": model, "method": "read", "args": [[record_id], fields], "kwargs": {},
        })
        return values


class Chromium:
    def __init__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        binary = next(filter(shutil.which, ("chromium", "google-chrome", "chromium-browser")), None)
        if not binary:
            raise SystemExit("Chromium is needed (Debian: apt-get install chromium).")
        self.profile = tempfile.mkdtemp()
        self.process = subprocess.Popen([
            binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--remote-debugging-port={self.port}", f"--user-data-dir={self.profile}",
            "--window-size=1440,900", "about:blank",
        ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.socket = websocket.create_connection(self._page_websocket(), timeout=60)
        self.ids = iter(range(1, 1_000_000))

    def _page_websocket(self):
        for _attempt in range(50):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json") as answer:
                    pages = [target for target in json.load(answer) if target["type"] == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("Chromium did not start.")

    def send(self, method, **params):
        message_id = next(self.ids)
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == message_id:
                return message.get("result", {})

    def open(self, url, ready):
        self.send("Page.navigate", url=url)
        self.wait_for(ready)

    def click(self, selector, ready):
        self.wait_for(selector)
        self.send("Runtime.evaluate", expression=f"document.querySelector({json.dumps(selector)}).click()")
        self.wait_for(ready)

    def present(self, selector):
        found = self.send("Runtime.evaluate", returnByValue=True,
                          expression=f"!!document.querySelector({json.dumps(selector)})")
        return bool(found.get("result", {}).get("value"))

    def wait_for(self, selector, timeout=60):
        """Until ``selector`` is on the page, then a moment for the web client to finish rendering."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.present(selector):
                time.sleep(SETTLE_SECONDS)
                return
            time.sleep(0.3)
        raise SystemExit(f"{selector} did not appear within {timeout} s.")

    def save(self, path):
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))
        print(f"==> {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")

    def close(self):
        self.socket.close()
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    arguments = parse_arguments()
    out = Path(arguments.out)
    out.mkdir(parents=True, exist_ok=True)
    odoo = Odoo(arguments.url, arguments.db)
    [invoice] = odoo.search("account.move", [("engine_state", "=", "sent"), ("move_type", "=", "out_invoice")])
    [engine] = odoo.search("invoice.engine", [])
    [smartbill_invoice] = odoo.search("account.move", [
        ("engine_state", "=", "sent"), ("move_type", "=", "out_invoice"), ("engine_id.engine_type", "=", "smartbill"),
    ])
    user_company = odoo.read("res.users", odoo.call("/web/session/get_session_info", {})["uid"], ["company_id"])
    smartbill_company = odoo.read("account.move", smartbill_invoice, ["company_id"])["company_id"][0]
    browser = Chromium()
    try:
        host = arguments.url.split("://", 1)[1].split(":")[0]
        browser.send("Network.setCookie", name="session_id", value=odoo.session.cookies["session_id"],
                     domain=host, path="/")
        browser.open(f"{arguments.url}/odoo/account.move/{invoice}", ready="div[name=engine_title]")
        browser.save(out / "invoice.png")
        browser.click(".o_form_statusbar button[name=action_invoice_sent]", ready=".modal")
        if browser.present(".modal button[name=document_layout_save]"):  # a new company's first document
            browser.click(".modal button[name=document_layout_save]",
                          ready=".modal .o_field_widget[name=mail_attachments_widget]")
        browser.save(out / "send-and-print.png")
        browser.open(f"{arguments.url}/odoo/invoice-engines/{engine}", ready=".o_field_widget[name=api_environment]")
        browser.save(out / "engine.png")
        # The Romanian company beside the user's own: Odoo 18 keeps the allowed companies in this cookie
        browser.send("Network.setCookie", name="cids", value=f"{user_company['company_id'][0]}-{smartbill_company}",
                     domain=host, path="/")
        browser.open(f"{arguments.url}/odoo/account.move/{smartbill_invoice}", ready="div[name=engine_title]")
        browser.click(".o_form_statusbar button[name=action_invoice_sent]", ready=".modal")
        if browser.present(".modal button[name=document_layout_save]"):
            browser.click(".modal button[name=document_layout_save]",
                          ready=".modal .o_field_widget[name=extra_edi_checkboxes]")
        browser.wait_for(".modal .o_field_widget[name=extra_edi_checkboxes] input:disabled")
        browser.save(out / "send-and-print-smartbill.png")
    finally:
        browser.close()


if __name__ == "__main__":
    main()
