"""What every response tells the browser: run only our own scripts, never inside a frame, no sniffing,
no referrer to other sites, and cookies that JavaScript cannot read and other sites cannot send."""

from __future__ import annotations

from flask import Flask, Response

from orchestrator.settings import Settings

# Scripts and styles only from our own static files: no inline script or style, no eval, no CDN. bpmn-js and
# Swagger UI style through the DOM (element.style), which a policy does not block; data: images are their icons.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # recipient links carry their token in the URL: never hand it to another site
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
ONE_YEAR = 365 * 24 * 3600


def init_browser_security(app: Flask, settings: Settings) -> None:
    """Set the cookie flags and add the security headers to every response."""
    production = settings.environment == "production"
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=production,
    )
    headers = dict(HEADERS)
    if production:  # production is served over HTTPS (its cookies are Secure): keep browsers on it
        headers["Strict-Transport-Security"] = f"max-age={ONE_YEAR}"

    @app.after_request
    def _add_security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
