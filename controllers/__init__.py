from . import fakturoid_oauth
