from . import test_google_oauth
