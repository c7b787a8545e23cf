{
    "name": "Invoice Engines (Fakturoid, SmartBill, Fakturownia)",
    "summary": "Push posted invoices to Fakturoid, SmartBill or Fakturownia and bring back "
    "their legal number, PDF and payment state",
    "version": "18.0.1.0.0",
    "category": "Accounting/Accounting",
    "license": "LGPL-3",
    "author": "account_invoice_engine maintainers",
    "depends": ["account", "mail"],
    "external_dependencies": {"python": ["requests"]},
    "data": [],
    "demo": [],
    "installable": True,
    "application": False,
}
