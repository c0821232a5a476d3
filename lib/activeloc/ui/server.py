"""The annotator app's server: Voila, run as ``python -m activeloc.ui.server NOTEBOOK [Voila's options]``
(what ``activeloc annotate`` does), with these defences.

Content-Security-Policy (:data:`POLICY`), on every response:

- ``default-src 'self'``: nothing from another origin (fonts, workers and frames included).
- ``script-src 'self' blob:`` and a sha256 hash for each inline script the page runs
  (:data:`INLINE_SCRIPTS`): Voila's bundles and the template's assets come from this server, and
  anywidget imports each widget's ES module from a ``blob:`` URL it makes. No ``'unsafe-inline'``,
  ``'unsafe-eval'`` nor ``'wasm-unsafe-eval'``: the page runs without them (the browser test fails
  on any violation). The ``new Function`` calls in Voila's bundles serve what the app never shows
  (JavaScript outputs, vega, JSON-schema validation, translations' plural forms, a fallback for
  browsers without ``globalThis``). jupyter_server's login and logout pages have an inline script
  too, which drops a token from the address bar: blocked, the server has dropped it already.
- ``style-src 'self' 'unsafe-inline'``: anywidget inserts each widget's CSS as a ``<style>``
  element, as do Voila's bundles (the CSS of JupyterLab and ipywidgets, CodeMirror, the FAST
  toolkit) and the pygments extension's; the template has its spinner's and pygments' styles and
  two style attributes inline.
- ``img-src 'self' data: blob:``, ``media-src 'self' blob:``: the template's favicon is a ``data:``
  URL; ipywidgets' Image, Video and Audio widgets show their bytes through ``blob:`` URLs.
- ``connect-src 'self'``: the kernel's websocket too (CSP 3's ``'self'`` matches ``ws:`` on the same
  host and port, as Chromium does).
- ``object-src 'none'``, ``base-uri 'none'``, ``frame-ancestors 'none'`` (the app is never framed),
  ``form-action 'self'`` (the login form).

The token: the identity provider reads it from the file named by ``JUPYTER_TOKEN_FILE``, not from
the command line; Voila's URL print shows none; the logs show a ``token`` in a URI as ``[secret]``
(jupyter_server's ``log_request`` for the access log, :class:`ScrubTokens` for what tornado writes).
A page request whose token was accepted (the login cookie now set) is sent to the same URL without
it: no token stays in the address bar, history or a Referer. The page then works by the cookie: its
page config holds no token (``PageConfig.getToken()`` is empty), so the kernel's websocket
authenticates by the cookie too.

``Referrer-Policy: no-referrer`` on every response too: no URL of the app leaves in a Referer.

Paths: where Voila's handlers answered a request with a 500, these answer 4xx (the handler classes
below say which).
"""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import parse_qsl, quote, unquote, urlencode

import tornado.web
from jupyter_server.auth.logout import LogoutHandler
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.log import log_request
from traitlets import default
from voila.app import Voila
from voila.static_file_handler import TemplateStaticFileHandler
from voila.tornado.handler import TornadoVoilaHandler
from voila.voila_identity_provider import VoilaLoginHandler

# The inline scripts of the page the template renders for annotate.ipynb (one cell), by sha256 (base64);
# the browser tests check them against the page (a Voila whose scripts changed fails there).
INLINE_SCRIPTS = {
    "Voila's helpers (update_loading_text, display_cells, ...)": "27EMbxW9t7j/tI72mGN/aLDbgg/wWQmWNIrBnsn6YRA=",
    "voila_process(1, 1): the progress of the notebook's one cell": "PqhHNNuz5v+6E11AA4PSkwKSxJqwWcstnskiH9WZYtk=",
    "window.voila_finish()": "Gba2iRKB8FYSoyimcKZnQ3PAq95k3NgtxbWr1Ne6v2k=",
    "window.voila_heartbeat(): Voila's keep-alive, while a cell runs long": "m16tKAZfrqdfaIlK4k9Uc4bmwJm0z0f+0b2ahSGv/Ko=",
}
POLICY = "; ".join([
    "default-src 'self'",
    " ".join(["script-src 'self' blob:", *(f"'sha256-{h}'" for h in INLINE_SCRIPTS.values())]),
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
])


# A query parameter (its name perhaps percent-encoded, as tornado accepts it), or one quoted in the
# login's ?next=: the value of each whose name decodes to "token" is scrubbed.
_PARAMETER = re.compile(r"([^?&=\s/'\"]+)(=|%3D)([^&\s'\"()]*)", re.IGNORECASE)


def _scrubbed(text: str) -> str:
    return _PARAMETER.sub(lambda m: f"{m[1]}{m[2]}[secret]" if unquote(unquote(m[1])).lower() == "token"
                          else m[0], text)


class ScrubTokens(logging.Filter):
    """On tornado's loggers and the app's: tornado writes a failed request's URI as it came (an
    HTTPError's message, an uncaught exception's request), its token included."""

    def filter(self, record):
        record.msg, record.args = _scrubbed(record.getMessage()), ()
        return True


class PageHandler(TornadoVoilaHandler):
    """Voila's page. Subclassed to drop an accepted token from the URL, and to quote the path of
    Voila's redirect to a file (Voila puts it raw in the Location header, where tornado refuses a
    control character such as ``%00``: a 500)."""

    @tornado.web.authenticated
    async def get(self, path=None):
        if "token" in self.request.query_arguments:  # logged in by now: the cookie will do
            rest = [(k, v) for k, v in parse_qsl(self.request.query, keep_blank_values=True) if k != "token"]
            # One leading slash: "//host/" or "/\\host/" would send the browser to another site.
            path = "/" + self.request.path.lstrip("/\\")
            self.redirect(path + (f"?{urlencode(rest)}" if rest else ""))
            return
        await super().get(path)

    def redirect_to_file(self, path):
        super().redirect_to_file(quote(path))


class TemplateStaticHandler(TemplateStaticFileHandler):
    """The templates' assets, ``<template>/static/<file>``. Subclassed because Voila's handler
    asserts that form (a 500 for ``/voila/templates/x``, or for a path climbing out with ``..``):
    here anything else is a 404."""

    def parse_url_path(self, path):
        parts = os.path.normpath(path).split(os.sep, 2)
        if len(parts) != 3 or parts[1] != "static" or parts[0] in (os.curdir, os.pardir):
            raise tornado.web.HTTPError(404)
        return super().parse_url_path(path)


class LogoutPage(LogoutHandler):
    """jupyter_server's logout. Subclassed for the static URLs Voila gives its login page: the
    logout page asks tornado for a ``static_path`` Voila has not set (a 500)."""

    static_url = VoilaLoginHandler.static_url


class TornadoStatic:
    """Mixed into tornado's own handlers, which Voila serves its static files with: unlike
    jupyter_server's they send none of ``settings['headers']`` (here every response carries the
    policy), and a path with a NUL byte makes tornado's symlink check raise (a 500; here a 404)."""

    def set_default_headers(self):
        super().set_default_headers()
        for name, value in self.settings.get("headers", {}).items():
            self.set_header(name, value)

    def parse_url_path(self, url_path):
        if "\0" in url_path:
            raise tornado.web.HTTPError(404)
        return super().parse_url_path(url_path)


# No Referer leaves the page (a belt to the braces of the token's redirect).
HEADERS = {"Content-Security-Policy": POLICY, "Referrer-Policy": "no-referrer"}

REPLACEMENTS = {TornadoVoilaHandler: PageHandler, TemplateStaticFileHandler: TemplateStaticHandler,
                LogoutHandler: LogoutPage}


class AnnotatorVoila(Voila):
    """Voila with the defences of this module's docstring. Subclassed for what Voila's traits do not
    reach: its handler classes and its URL print."""

    @default("auto_token")
    def _auto_token(self):  # else Voila serves anyone when no token is on its command line; with it, the
        return True  # identity provider reads JUPYTER_TOKEN_FILE (or makes a token)

    @default("tornado_settings")
    def _tornado_settings(self):
        return {"headers": HEADERS, "log_function": log_request}

    @property
    def display_url(self):  # Voila's adds "?token=...": the command prints the one URL to open
        return self.connection_url

    def start(self):
        for log in (self.log, *map(logging.getLogger, ("tornado.access", "tornado.application", "tornado.general"))):
            log.addFilter(ScrubTokens())
        super().start()

    def init_handlers(self):
        handlers = []
        for pattern, handler, *options in super().init_handlers():
            handler = REPLACEMENTS.get(handler, handler)
            if not issubclass(handler, JupyterHandler):
                handler = type(handler.__name__, (TornadoStatic, handler), {})
            handlers.append((pattern, handler, *options))
        return handlers


if __name__ == "__main__":
    AnnotatorVoila.launch_instance()
