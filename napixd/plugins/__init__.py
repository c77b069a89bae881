"""WSGI plugins of napixd."""
