from . import test_microsoft_oauth
