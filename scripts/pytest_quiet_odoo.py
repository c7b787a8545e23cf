"""pytest plugin loaded by scripts/test.sh (-p pytest_quiet_odoo).

pytest-odoo imports odoo.tests before it switches Odoo's test mode on, so Odoo 18 logs,
on every run, the ERROR "Importing test framework, avoid importing from business
modules and when not running in test mode". That one record is dropped; nothing
else is filtered.
"""
import logging


class _DropTestFrameworkImportError(logging.Filter):
    def filter(self, record):
        return not (
            record.levelno == logging.ERROR
            and str(record.msg).startswith("Importing test framework, avoid importing")
        )


logging.getLogger("odoo.tests.common").addFilter(_DropTestFrameworkImportError())
