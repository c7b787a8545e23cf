from . import test_sandbox_fakturoid
from . import test_engine_fakturoid
