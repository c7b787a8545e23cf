from . import fakturoid_oauth
from . import portal
