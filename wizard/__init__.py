from . import invoice_engine_link_wizard
from . import invoice_engine_customer_link_wizard
from . import invoice_engine_cancel_wizard
