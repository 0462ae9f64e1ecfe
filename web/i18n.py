"""English and Simplified Chinese for the staff pages: the user's setting, else the browser's choice.
Times likewise: the person's time zone, else the browser's, else UTC (web/time_display.py)."""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, request, session
from flask_babel import Babel, get_locale
from flask_security import current_user

from web import profile
from web.extensions import db
from web.model_texts import init_model_texts
from web.pages.common import check_csrf, safe_next
from web.time_display import init_time_display

# zh_Hans_CN is the code Flask-Security's own translations use, so its pages switch language with ours
LANGUAGES = {"en": "English", "zh_Hans_CN": "简体中文"}
babel = Babel()
bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    if current_user and current_user.is_authenticated and current_user.locale in LANGUAGES:
        return current_user.locale  # a shared tablet shows each person their own language
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    browser = request.accept_languages.best_match(["en", "zh", "zh-CN", "zh-Hans", "zh-SG"]) or "en"
    return "zh_Hans_CN" if browser.startswith("zh") else "en"


@bp.post("/language")
def switch_language():
    """Remember the language for this browser and, when signed in, as the person's setting."""
    check_csrf()
    lang = request.form.get("lang", "")
    if lang in LANGUAGES:
        session["lang"] = lang
        if current_user.is_authenticated:
            current_user.locale = lang
            db.session.commit()
    return redirect(safe_next(request.form.get("next")))


def init_i18n(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.jinja_env.globals["get_locale"] = get_locale
    app.register_blueprint(bp)
    init_model_texts(app)
    init_time_display(app)
    app.register_blueprint(profile.bp)
