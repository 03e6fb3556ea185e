"""Sign-in for the SSI: scrypt passwords, signed session cookies that expire, CSRF tokens.

- Passwords: `hashlib.scrypt` (N=2^14, r=8, p=1, 16-byte salt), stored as `scrypt$N$r$p$salt$hash`.
- Sessions: a cookie `payload.signature`, HMAC-SHA256 under a key derived from `Settings.session_secret`.
  The payload names the User, an idle expiry (renewed while the User is active), an absolute expiry, a
  random nonce and a fingerprint of the password hash: changing a password ends every session of it.
- CSRF: every form carries `HMAC(key, "csrf:" + nonce)`; htmx sends it as `X-CSRF-Token`. The sign-in form,
  before any session, uses a nonce cookie the same way (double submit).
- Failed sign-ins are throttled per User: after `MAX_FAILURES` the account is locked for `LOCK_SECONDS`.

All time comes from the clock handed in (the server's injected clock). Durations here are wall time: under a
`ScaledClock` (live simulation) the SSI multiplies them by the clock's speed, so that a 30-minute session
stays 30 minutes of the User's time however fast virtual time runs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, select, update

from hanota.clock import utc
from hanota.db.bulk import insert_or_ignore
from hanota.db.models import User, UserStatus, WebCredential
from hanota.errors import AccessError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD = 12
MAX_PASSWORD = 256
MAX_FAILURES = 5
LOCK_SECONDS = 300
ABSOLUTE_SESSION_SECONDS = 12 * 3600
SESSION_COOKIE = "hanota_ssi"
LOGIN_COOKIE = "hanota_ssi_login"
OPERATOR_ROLE = "DCC"
SUPPLIER_ROLES = frozenset({"IS", "GS"})
_EUI = re.compile(r"^[0-9A-F]{2}(-[0-9A-F]{2}){7}$")


def normalise_eui(value: str) -> str | None:
    """`90b3d51f30010000` or `90-b3-…` → `90-B3-D5-1F-30-01-00-00`; None when it is not an EUI-64."""
    v = value.strip().upper().replace(":", "-")
    if re.fullmatch(r"[0-9A-F]{16}", v):
        v = "-".join(v[i : i + 2] for i in range(0, 16, 2))
    return v if _EUI.match(v) else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        want = _unb64(digest)
        got = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(want)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


_DUMMY_HASH = hash_password(secrets.token_hex(16))  # spent on unknown Users so timing does not tell


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD:
        return f"a password needs at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"a password has at most {MAX_PASSWORD} characters"
    return None


def generate_password() -> str:
    """A random password (about 95 bits), easy to type: four groups of five."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(20))
    return "-".join(raw[i : i + 5] for i in range(0, 20, 5))


def set_password(conn: Connection, eui: str, password: str, now: datetime) -> None:
    """Store `password` for the User `eui` (creates or replaces; clears the throttle)."""
    problem = password_problem(password)
    if problem:
        raise ValueError(problem)
    if conn.execute(select(User.eui).where(User.eui == eui)).first() is None:
        raise ValueError(f"{eui} is not a User of this DSP")
    values = {"password_hash": hash_password(password), "updated_at": now, "failed_count": 0}
    conn.execute(
        insert_or_ignore(conn, WebCredential, key="eui").values(eui=eui, locked_until=None, **values)
    )
    conn.execute(update(WebCredential).where(WebCredential.eui == eui).values(locked_until=None, **values))


@dataclass(frozen=True)
class Principal:
    """Who is signed in."""

    eui: str
    name: str
    roles: frozenset[str]
    nonce: str

    @property
    def is_operator(self) -> bool:
        return OPERATOR_ROLE in self.roles

    @property
    def is_supplier(self) -> bool:
        return bool(self.roles & SUPPLIER_ROLES)


@dataclass(frozen=True)
class SessionData:
    eui: str
    expires: int
    absolute: int
    nonce: str
    fingerprint: str


class Sessions:
    """Issue and check session cookies and CSRF tokens under one secret."""

    def __init__(
        self, secret: str, ttl_seconds: float, absolute_seconds: float = ABSOLUTE_SESSION_SECONDS
    ) -> None:
        self._key = hmac.new(secret.encode(), b"hanota-ssi-session-v1", hashlib.sha256).digest()
        self.ttl = int(ttl_seconds)
        self.absolute = int(absolute_seconds)

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest())

    def fingerprint(self, password_hash: str) -> str:
        return self._sign(b"pw:" + password_hash.encode())[:16]

    def issue(self, eui: str, password_hash: str, now: datetime, *, absolute: int | None = None,
              nonce: str | None = None) -> str:  # fmt: skip
        t = int(now.timestamp())
        data = {
            "u": eui,
            "e": t + self.ttl,
            "a": absolute if absolute is not None else t + self.absolute,
            "n": nonce or secrets.token_hex(16),
            "p": self.fingerprint(password_hash),
        }
        payload = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(payload)}.{self._sign(payload)}"

    def read(self, cookie: str | None, now: datetime) -> SessionData | None:
        """The session in `cookie` if its signature holds and it has not expired; else None."""
        # non-ASCII text cannot be ours (and `hmac.compare_digest` refuses to compare it)
        if not cookie or len(cookie) > 1024 or not cookie.isascii() or cookie.count(".") != 1:
            return None
        body, sig = cookie.split(".")
        try:
            payload = _unb64(body)
        except ValueError:
            return None
        if not hmac.compare_digest(self._sign(payload), sig):
            return None
        try:
            data = json.loads(payload)
            s = SessionData(str(data["u"]), int(data["e"]), int(data["a"]), str(data["n"]), str(data["p"]))
        except (ValueError, KeyError, TypeError):
            return None
        t = now.timestamp()
        if t >= s.expires or t >= s.absolute:
            return None
        return s

    def issued_at(self, s: SessionData) -> int:
        """When the session was first issued (renewals keep its absolute end, so this too)."""
        return s.absolute - self.absolute

    def needs_renewal(self, s: SessionData, now: datetime) -> bool:
        return s.expires - now.timestamp() < self.ttl / 2

    def csrf_token(self, nonce: str) -> str:
        return self._sign(b"csrf:" + nonce.encode())

    def check_csrf(self, nonce: str, token: str | None) -> bool:
        if not token or not token.isascii():
            return False
        return hmac.compare_digest(self.csrf_token(nonce), token)


class SignInFailed(AccessError):
    """Wrong User ID or password, an inactive User, or a locked account (one message for all: E1, unknown
    User, whichever it was)."""

    def __init__(self, message: str = "wrong User ID or password, or too many attempts") -> None:
        super().__init__(message)


def authenticate(
    engine: Engine, eui_text: str, password: str, now: datetime, *, lock_seconds: float = LOCK_SECONDS
) -> tuple[str, str]:
    """Check a sign-in; returns the User's EUI and password hash. Failures count towards the lock.

    `engine` must be able to write (the throttle is updated in the same call)."""
    eui = normalise_eui(eui_text)
    if eui is None or len(password) > MAX_PASSWORD:
        check_password(password[:MAX_PASSWORD], _DUMMY_HASH)
        raise SignInFailed
    with engine.connect() as conn:
        row = conn.execute(
            select(User.status, WebCredential.password_hash, WebCredential.locked_until)
            .join(WebCredential, WebCredential.eui == User.eui)
            .where(User.eui == eui)
        ).first()
    if row is None:
        check_password(password, _DUMMY_HASH)
        raise SignInFailed
    if row.locked_until is not None and row.locked_until > now:
        raise SignInFailed
    ok = check_password(password, row.password_hash)
    with engine.begin() as conn:
        if ok:
            conn.execute(
                update(WebCredential)
                .where(WebCredential.eui == eui, WebCredential.failed_count > 0)
                .values(failed_count=0, locked_until=None)
            )
        else:
            failures = conn.execute(
                update(WebCredential)
                .where(WebCredential.eui == eui)
                .values(failed_count=WebCredential.failed_count + 1)
                .returning(WebCredential.failed_count)
            ).scalar_one()
            if int(failures) >= MAX_FAILURES:
                conn.execute(
                    update(WebCredential)
                    .where(WebCredential.eui == eui)
                    .values(failed_count=0, locked_until=now + timedelta(seconds=lock_seconds))
                )
    if not ok or row.status != UserStatus.ACTIVE.value:
        raise SignInFailed
    return eui, str(row.password_hash)


def end_sessions(conn: Connection, eui: str, now: datetime) -> None:
    """Sign-out: every session of `eui` issued before `now` stops being valid (on every browser)."""
    conn.execute(update(WebCredential).where(WebCredential.eui == eui).values(sessions_after=now))


def load_principal(engine: Engine, sessions: Sessions, s: SessionData) -> tuple[Principal, str] | None:
    """The signed-in User of a valid session and its password hash, unless the User was suspended, changed
    its password or signed out since the session began."""
    with engine.connect() as conn:
        row = conn.execute(
            select(
                User.eui,
                User.name,
                User.roles,
                User.status,
                WebCredential.password_hash,
                WebCredential.sessions_after,
            )
            .join(WebCredential, WebCredential.eui == User.eui)
            .where(User.eui == s.eui)
        ).first()
    if row is None or row.status != UserStatus.ACTIVE.value:
        return None
    if not hmac.compare_digest(sessions.fingerprint(row.password_hash), s.fingerprint):
        return None
    if row.sessions_after is not None and sessions.issued_at(s) < int(utc(row.sessions_after).timestamp()):
        return None  # the User signed out after this session began
    return Principal(row.eui, row.name, frozenset(row.roles.split()), s.nonce), str(row.password_hash)
