"""The web process: editors' preview, unsubscribe (with RFC 8058 one-click), preferences.

    gunicorn 'digest.web:create_app()'
"""

from digest.web.app import create_app

__all__ = ["create_app"]
