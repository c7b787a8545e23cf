"""Faithful local servers for the engine APIs (tests, demo, benchmarks).

Standard library only, no ``odoo`` import and nothing shared with ``engines/``: the
sandbox plays the vendor. ``python -m sandbox fakturoid --port 8765 --seed-demo``
runs one from the repository root; in Python::

    from odoo.addons.account_invoice_engine.sandbox.fakturoid import FakturoidSandbox
    sandbox = FakturoidSandbox().start()
"""
