"""A person's own settings: the time zone every page shows times in."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_security import current_user

from web.extensions import db
from web.pages.common import signed_in_pages
from web.time_display import browser_zone, known_zone, zone_names

bp = Blueprint("profile", __name__)
signed_in_pages(bp)


@bp.get("/profile")
def profile():
    return render_template("profile.html", zones=zone_names(), chosen=current_user.time_zone or "",
                           browser=browser_zone(), error=None)


@bp.post("/profile")
def save_profile():
    """Keep the chosen zone with the person; an empty choice follows the browser."""
    chosen = request.form.get("time_zone", "").strip()
    if chosen and known_zone(chosen) is None:
        return render_template("profile.html", zones=zone_names(), chosen=chosen, browser=browser_zone(),
                               error=_("Choose a time zone from the list.")), 422
    current_user.time_zone = chosen or None
    db.session.commit()
    flash(_("Times are now shown in %(zone)s.", zone=chosen or _("your browser's time zone")), "info")
    return redirect(url_for("profile.profile"))
