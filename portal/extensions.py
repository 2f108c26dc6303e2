"""Flask extensions, created unbound here and bound in :func:`portal.create_app`."""

from __future__ import annotations

from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

LOCALES = ("zh_Hans_CN", "en")
DEFAULT_LOCALE = "zh_Hans_CN"

babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def select_locale() -> str:
    """An explicit ``?lang=`` or cookie choice, then the signed-in user's, then the browser's."""
    from flask import has_request_context
    from flask_login import current_user

    if not has_request_context():  # CLI commands, background work, service tests
        return DEFAULT_LOCALE
    chosen = request.args.get("lang") or request.cookies.get("lang")
    if chosen in LOCALES:
        return chosen
    if getattr(current_user, "is_authenticated", False) and current_user.locale in LOCALES:
        return str(current_user.locale)
    best = request.accept_languages.best_match(["zh", "en"], default="zh")
    return "en" if best == "en" else DEFAULT_LOCALE
