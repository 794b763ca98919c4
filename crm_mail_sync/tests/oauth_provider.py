"""``OAuthProvider``: a small, real OAuth2 authorization server on loopback.

It plays Google's and Microsoft's part for the tests of the OAuth2 (XOAUTH2) logins:

* ``GET /authorize`` shows a consent page (a form with an "Allow" button, id
  ``allow``, and a "Deny" button, id ``deny``) for ``consent_email``; posting the form
  redirects (302) to ``redirect_uri?code=...&state=...``, or with
  ``error=access_denied`` when denied or after ``deny_next = True``.
* ``POST /token`` exchanges an authorization code (single use, same ``redirect_uri``
  as at ``/authorize``) or a refresh token for an access token; the client
  authenticates with ``client_id`` and ``client_secret`` in the form, as Odoo's
  ``google.gmail.mixin`` and ``microsoft.outlook.mixin`` send them (HTTP Basic works
  too). Errors are OAuth2 JSON (``invalid_grant``, ``invalid_client``...) with HTTP 400.
* ``POST /introspect`` (RFC 7662, form ``token=...``, or a bearer ``Authorization``
  header) answers ``{"active": true, "email", "username", "exp", ...}`` or
  ``{"active": false}``: what Dovecot's ``oauth2`` passdb asks
  (``introspection_mode = post``) and what ``SmtpSink`` asks in-process.

``url`` ends with "/" so that it also works as Odoo's ``microsoft_outlook.endpoint``
(``url_join(endpoint, 'token')`` is ``token_url``). No secret (code, token, client
secret) is ever logged.
"""

import base64
import contextlib
import html
import json
import logging
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

from .servers import LOOPBACK, Server, get_shared_oauth_provider

_logger = logging.getLogger(__name__)

__all__ = ["OAuthProvider", "get_shared_oauth_provider"]

DEFAULT_CONSENT_EMAIL = "oauth.user@crm-mail-sync.test"

CONSENT_PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in - Test OAuth provider</title></head>
<body>
<main>
<h1>Test OAuth provider</h1>
<p>The application <strong id="client">{client_id}</strong> asks to access the mailbox
<strong id="email">{email}</strong> ({scope}).</p>
<form id="consent" method="post" action="{action}">
<input type="hidden" name="client_id" value="{client_id}">
<input type="hidden" name="redirect_uri" value="{redirect_uri}">
<input type="hidden" name="response_type" value="{response_type}">
<input type="hidden" name="scope" value="{scope}">
{state_input}
<button type="submit" id="allow" name="decision" value="allow">Allow</button>
<button type="submit" id="deny" name="decision" value="deny">Deny</button>
</form>
</main>
</body>
</html>
"""

ERROR_PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Error - Test OAuth provider</title></head>
<body><h1>Error 400</h1><p id="error">{message}</p></body>
</html>
"""


class OAuthError(Exception):
    """An OAuth2 error answer of the token endpoint (RFC 6749, section 5.2)."""

    def __init__(self, error, description, status=400):
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status


class OAuthProvider(Server):
    """An OAuth2 authorization server on 127.0.0.1 (a free port), in a thread.

    Settings tests may change at run time (``reset()`` restores them):
    ``consent_email``, ``deny_next``, ``rotate_refresh``, ``access_lifetime``,
    ``auto_consent``.
    """

    host = LOOPBACK

    def __init__(self):
        self.port = None
        self._httpd = None
        self._thread = None
        self._lock = threading.RLock()
        self.clients = {}
        # code -> {client_id, redirect_uri, email, scope, used}
        self._codes = {}
        # access token -> {email, client_id, scope, exp, refresh_token}
        self._access = {}
        # refresh token -> {email, client_id, scope, revoked}
        self._refresh = {}
        self.requests = []
        self.introspections = []
        self.reset()

    def reset(self):
        """Restore the run-time settings to their defaults (tokens and clients stay)."""
        self.consent_email = DEFAULT_CONSENT_EMAIL
        self.deny_next = False
        self.rotate_refresh = False
        self.access_lifetime = 3600
        # GET /authorize answers at once as if "Allow" was pressed (a browser tour
        # cannot act on this other origin's page).
        self.auto_consent = False

    # ------------------------------------------------------------------
    # Process
    # ------------------------------------------------------------------

    @property
    def url(self):
        return f"http://{self.host}:{self.port}/"

    @property
    def authorize_url(self):
        return self.url + "authorize"

    @property
    def token_url(self):
        return self.url + "token"

    @property
    def introspection_url(self):
        return self.url + "introspect"

    def start(self):
        if self._httpd:
            return self
        handler = type("Handler", (_Handler,), {"provider": self})
        self._httpd = _HTTPServer((self.host, 0), handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"oauth-provider-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self):
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(5)
            self._httpd = self._thread = None

    # ------------------------------------------------------------------
    # Clients and tokens
    # ------------------------------------------------------------------

    def add_client(self, client_id, client_secret):
        """Register (or update) an OAuth client."""
        with self._lock:
            self.clients[client_id] = client_secret
        return client_id

    def issue(self, email, expires_in=None, client_id=None, scope="mail"):
        """Issue tokens for ``email`` without the consent page.

        :param expires_in: lifetime of the access token in seconds (default
            ``access_lifetime``); 0 or less gives an already expired token
        :param client_id: the client the refresh token belongs to; None: any
            registered client may use it
        :return: (access_token, refresh_token)
        """
        with self._lock:
            refresh_token = self._new_refresh(email, client_id, scope)
            access_token = self._new_access(refresh_token, expires_in)
        return access_token, refresh_token

    def expire(self, access_token):
        """Make ``access_token`` expired from now on."""
        with self._lock:
            self._access[access_token]["exp"] = int(time.time()) - 1

    def revoke(self, refresh_token=None, email=None):
        """Revoke a refresh token, or all of ``email``'s, with their access tokens."""
        if refresh_token is None and email is None:
            raise ValueError("revoke() needs a refresh token or an email")
        with self._lock:
            for token, grant in self._refresh.items():
                if token == refresh_token or (email is not None and grant["email"] == email):
                    grant["revoked"] = True
                    for info in self._access.values():
                        if info["refresh_token"] == token:
                            info["exp"] = 0

    def introspect(self, token):
        """RFC 7662 answer for ``token``: what ``POST /introspect`` returns."""
        now = int(time.time())
        with self._lock:
            info = self._access.get(token or "")
            active = bool(
                info
                and info["exp"] > now
                and not self._refresh.get(info["refresh_token"], {}).get("revoked")
            )
            self.introspections.append((info["email"] if info else None, active))
            if not active:
                return {"active": False}
            return {
                "active": True,
                "email": info["email"],
                "username": info["email"],
                "sub": info["email"],
                "exp": info["exp"],
                "scope": info["scope"],
                "client_id": info["client_id"],
                "token_type": "Bearer",
            }

    def email_of(self, access_token):
        """The mailbox a valid access token is for, or None."""
        return self.introspect(access_token).get("email")

    def _new_refresh(self, email, client_id, scope):
        token = "rt-" + secrets.token_urlsafe(24)
        self._refresh[token] = {
            "email": email,
            "client_id": client_id,
            "scope": scope,
            "revoked": False,
        }
        return token

    def _new_access(self, refresh_token, expires_in=None):
        grant = self._refresh[refresh_token]
        lifetime = self.access_lifetime if expires_in is None else expires_in
        token = "at-" + secrets.token_urlsafe(24)
        self._access[token] = {
            "email": grant["email"],
            "client_id": grant["client_id"],
            "scope": grant["scope"],
            "exp": int(time.time()) + int(lifetime),
            "refresh_token": refresh_token,
        }
        return token

    # ------------------------------------------------------------------
    # Endpoints (called by the request handler)
    # ------------------------------------------------------------------

    def _check_client(self, client_id, client_secret):
        with self._lock:
            expected = self.clients.get(client_id)
        if expected is None or not secrets.compare_digest(
            str(expected).encode(), str(client_secret or "").encode()
        ):
            raise OAuthError("invalid_client", "Unknown client or wrong client secret.")

    def _authorize_page(self, params):
        """GET /authorize: (status, html)."""
        client_id = params.get("client_id", "")
        with self._lock:
            known = client_id in self.clients
        if not known:
            return 400, ERROR_PAGE.format(message="Unknown client.")
        if params.get("response_type") != "code" or not params.get("redirect_uri"):
            return 400, ERROR_PAGE.format(message="Invalid authorization request.")
        state = params.get("state")
        esc = html.escape
        return 200, CONSENT_PAGE.format(
            action=esc(self.authorize_url),
            client_id=esc(client_id),
            email=esc(self.consent_email or ""),
            redirect_uri=esc(params["redirect_uri"]),
            response_type=esc(params["response_type"]),
            scope=esc(params.get("scope", "")),
            state_input=(
                f'<input type="hidden" name="state" value="{esc(state)}">'
                if state is not None
                else ""
            ),
        )

    def _authorize_decision(self, params):
        """POST /authorize: (status, html or None, redirect location or None)."""
        status, page = self._authorize_page(params)
        if status != 200:
            return status, page, None
        redirect_uri = params["redirect_uri"]
        answer = {}
        with self._lock:
            denied = self.deny_next or params.get("decision") == "deny"
            self.deny_next = False
            if denied or not self.consent_email:
                answer["error"] = "access_denied"
            else:
                code = "code-" + secrets.token_urlsafe(18)
                self._codes[code] = {
                    "client_id": params["client_id"],
                    "redirect_uri": redirect_uri,
                    "email": self.consent_email,
                    "scope": params.get("scope", ""),
                    "used": False,
                }
                answer["code"] = code
        if "state" in params:
            answer["state"] = params["state"]
        separator = "&" if urlsplit(redirect_uri).query else "?"
        return 302, None, redirect_uri + separator + urlencode(answer)

    def _token(self, params, basic_auth):
        """POST /token: the JSON answer; raise OAuthError."""
        grant_type = params.get("grant_type", "")
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        if basic_auth and not client_id:
            client_id, client_secret = basic_auth
        with self._lock:
            self.requests.append((grant_type, client_id))
        self._check_client(client_id, client_secret)
        with self._lock:
            if grant_type == "authorization_code":
                grant = self._codes.get(params.get("code", ""))
                if not grant or grant["used"] or grant["client_id"] != client_id:
                    raise OAuthError("invalid_grant", "Unknown or already used code.")
                grant["used"] = True
                if params.get("redirect_uri") != grant["redirect_uri"]:
                    raise OAuthError("invalid_grant", "redirect_uri does not match.")
                refresh_token = self._new_refresh(grant["email"], client_id, grant["scope"])
            elif grant_type == "refresh_token":
                refresh_token = params.get("refresh_token", "")
                grant = self._refresh.get(refresh_token)
                if not grant or grant["revoked"] or grant["client_id"] not in (None, client_id):
                    raise OAuthError("invalid_grant", "Unknown or revoked refresh token.")
                if self.rotate_refresh:
                    grant["revoked"] = True
                    refresh_token = self._new_refresh(grant["email"], client_id, grant["scope"])
                    # The access tokens issued so far stay valid until they expire.
                    for info in self._access.values():
                        if info["refresh_token"] == params["refresh_token"]:
                            info["refresh_token"] = refresh_token
            elif not grant_type:
                raise OAuthError("invalid_request", "grant_type is missing.")
            else:
                raise OAuthError("unsupported_grant_type", "Unsupported grant_type.")
            access_token = self._new_access(refresh_token)
            return {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": int(self.access_lifetime),
                "refresh_token": refresh_token,
                "scope": self._refresh[refresh_token]["scope"],
            }


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that went away is not an error of the provider.
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return
        _logger.exception("test OAuth provider: error while handling a request")


class _HandlerError(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    provider = None  # set on the subclass made by OAuthProvider.start()
    server_version = "CrmMailSyncTestOAuth/1.0"
    timeout = 30

    def log_message(self, format, *args):
        pass  # the request line may hold the authorization code: see log_request

    def log_request(self, code="-", size="-"):
        # Path only: the query string (code, state) and the body (tokens) stay out.
        _logger.debug(
            "test OAuth provider: %s %s -> %s", self.command, urlsplit(self.path).path, code
        )

    # -- helpers --------------------------------------------------------

    def _query(self):
        return dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))

    def _form(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > 1_000_000:
            raise _HandlerError("body too large")
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        return dict(parse_qsl(body, keep_blank_values=True))

    def _authorization(self):
        """("basic", (id, secret)) or ("bearer", token) or (None, None)."""
        header = self.headers.get("Authorization") or ""
        scheme, _sep, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return "bearer", value.strip()
        if scheme.lower() == "basic":
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                user, _sep, password = base64.b64decode(value).decode().partition(":")
                return "basic", (user, password)
        return None, None

    def _send(self, status, body, content_type, headers=()):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _json(self, status, payload):
        self._send(status, json.dumps(payload), "application/json;charset=UTF-8")

    def _html(self, status, page):
        self._send(status, page, "text/html; charset=utf-8")

    def _route(self):
        return urlsplit(self.path).path.rstrip("/") or "/"

    # -- verbs ----------------------------------------------------------

    def do_GET(self):
        route = self._route()
        if route == "/authorize" and self.provider.auto_consent:
            status, page, location = self.provider._authorize_decision(
                {**self._query(), "decision": "allow"}
            )
            if location:
                self._send(302, "", "text/plain", [("Location", location)])
            else:
                self._html(status, page)
        elif route == "/authorize":
            self._html(*self.provider._authorize_page(self._query()))
        elif route == "/introspect":
            self._introspect({})
        else:
            self._html(404, ERROR_PAGE.format(message="Not found."))

    def do_POST(self):
        route = self._route()
        try:
            form = self._form()
        except (_HandlerError, ValueError):
            self._json(400, {"error": "invalid_request"})
            return
        if route == "/authorize":
            status, page, location = self.provider._authorize_decision(form)
            if location:
                self._send(302, "", "text/plain", [("Location", location)])
            else:
                self._html(status, page)
        elif route == "/token":
            kind, value = self._authorization()
            try:
                answer = self.provider._token(form, value if kind == "basic" else None)
            except OAuthError as error:
                self._json(
                    error.status, {"error": error.error, "error_description": error.description}
                )
            else:
                self._json(200, answer)
        elif route == "/introspect":
            self._introspect(form)
        else:
            self._json(404, {"error": "not_found"})

    def _introspect(self, form):
        token = form.get("token")
        if not token:
            kind, value = self._authorization()
            token = value if kind == "bearer" else None
        self._json(200, self.provider.introspect(token))
