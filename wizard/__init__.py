from . import invoice_engine_link_wizard
