"""What every command shares: the settings, the migrated engine, the consoles, and the error rule.

The error rule: a command that fails prints ONE line on stderr and exits non-zero, never a traceback
(`describe_error` turns any exception into that line and its exit code; the `hanota` group in
`hanota.cli.main` applies it to every command). The exit codes:

    0  done
    1  a server refused or could not be reached: the DSP answered a DUIS error code or an HTTP error, its
       answer does not verify, the DSP or the database is down, or you declined a confirmation
    2  usage or input: a bad argument or option, a missing or unreadable file, a malformed request, key,
       certificate or image, an invalid HANOTA_* setting
    3  an internal error (a bug): the line names the exception; HANOTA_TRACEBACK=1 shows the traceback

Output that is not going to a terminal (a pipe, a file) is never cut or wrapped at 80 columns and carries no
colour codes: tables and values come out whole (`... | cat` shows what a terminal would, unclipped).
"""

from __future__ import annotations

import errno
import logging
from typing import Any, NoReturn

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from sqlalchemy import Engine

from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade
from hanota.logs import configure_logging
from hanota.settings import Settings

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 a server refused or could not be reached (a DUIS error code, an HTTP error, an "
    "answer that does not verify, the DSP or database down, a declined confirmation); 2 usage or input (a bad "
    "argument, a missing or unreadable file, a malformed request, key, certificate or image, an invalid "
    "HANOTA_* setting); 3 an internal error (HANOTA_TRACEBACK=1 shows the traceback)."
)

# Wide enough for any row hanota prints (device lists, passwords, URLs): off a terminal, nothing is cut.
UNBOUNDED_WIDTH = 100_000


class _Console(Console):
    """A Rich console that keeps the terminal's width on a terminal and is unbounded everywhere else.

    Rich otherwise assumes 80 columns when its output is a pipe or a file, and truncates or wraps tables and
    long values to fit; colour codes are only ever written to a terminal (Rich's own rule)."""

    @property
    def size(self) -> ConsoleDimensions:
        dims = super().size
        if self.is_terminal or self._width is not None:
            return dims
        return ConsoleDimensions(UNBOUNDED_WIDTH, dims.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


console: Console = _Console()
err_console: Console = _Console(stderr=True)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print `message` as one line on stderr and exit with `code`."""
    err_console.print(escape(" ".join(message.split())), style="red", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def check_can_listen(host: str, port: int) -> None:
    """Refuse (one line, exit 1) before a server starts if `host:port` cannot be listened on: uvicorn would
    otherwise log the bind error and exit on its own."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as e:
        fail(f"cannot listen on {host}:{port}: {getattr(e, 'strerror', None) or e}")
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            fail(f"cannot listen on {host}:{port}: {e.strerror or e}", EXIT_REFUSED)


def load_settings() -> Settings:
    settings = Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    # httpx logs every request at INFO on stderr: a command's stderr is for its one error line, and the
    # servers and workers log what they send themselves
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return settings


def migrated_engine(settings: Settings) -> Engine:
    """The store at `settings.database_url`, brought up to the newest schema."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    return make_engine(settings.database_url)


# -- the error rule -----------------------------------------------------------------------------------------

_INPUT_ERRNOS = frozenset(
    {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.EEXIST, errno.ENAMETOOLONG,
     errno.EROFS, errno.ENOSPC, errno.ELOOP}
)  # fmt: skip


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def _os_error(e: OSError) -> tuple[str, int]:
    code = EXIT_USAGE if e.errno in _INPUT_ERRNOS or e.errno is None else EXIT_REFUSED
    if e.strerror and e.filename is not None:
        target = f"{e.filename}" + (f" -> {e.filename2}" if e.filename2 is not None else "")
        return f"{e.strerror}: {target}", code
    return _first_line(str(e)) or type(e).__name__, code


def _http_error(e: Any) -> tuple[str, int]:
    import httpx

    try:
        url: str | None = str(e.request.url)
    except RuntimeError:  # no request attached
        url = None
    reason = _first_line(str(e)) or type(e).__name__
    if isinstance(e, httpx.UnsupportedProtocol):
        return f"{url or 'the URL'} is not an http:// or https:// URL: {reason}", EXIT_USAGE
    if isinstance(e, httpx.TimeoutException):
        return f"no answer from {url or 'the server'} in time ({type(e).__name__})", EXIT_REFUSED
    return f"cannot reach {url or 'the server'}: {reason}", EXIT_REFUSED


def _database_error(e: Any) -> tuple[str, int]:
    import sqlalchemy.exc as sa_exc

    if isinstance(e, sa_exc.ArgumentError):
        return f"the database URL is not usable: {_first_line(str(e))}", EXIT_USAGE
    if isinstance(e, sa_exc.DBAPIError) and e.orig is not None:
        reason = _first_line(str(e.orig)) or type(e.orig).__name__
    else:
        reason = _first_line(str(e)) or type(e).__name__
    return f"the store refused or is unavailable: {reason}", EXIT_REFUSED


def _settings_error(e: Any) -> tuple[str, int]:
    problems = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()))
        name = f"HANOTA_{loc.upper()}" if loc else "settings"
        problems.append(f"{name}: {err.get('msg', 'invalid')}")
    return "invalid configuration: " + "; ".join(problems), EXIT_USAGE


def describe_error(e: BaseException) -> tuple[str, int]:
    """The one line and the exit code for an exception a command let through."""
    import httpx
    import pydantic
    import sqlalchemy.exc as sa_exc
    from alembic.util.exc import CommandError

    from hanota.anomaly.errors import AnomalyError
    from hanota.db.migrate import MigrationError
    from hanota.errors import HanotaError, Unavailable

    if isinstance(e, Unavailable):  # a server could not be reached or did not take the request
        return _first_line(e.message) or type(e).__name__, EXIT_REFUSED
    if isinstance(e, HanotaError | AnomalyError):
        return _first_line(e.message) or str(e), EXIT_USAGE
    if isinstance(e, MigrationError | CommandError):
        return _first_line(str(e)), EXIT_USAGE
    if isinstance(e, httpx.HTTPError):
        return _http_error(e)
    if isinstance(e, httpx.InvalidURL):
        return f"not a valid URL: {_first_line(str(e))}", EXIT_USAGE
    if isinstance(e, sa_exc.SQLAlchemyError):
        return _database_error(e)
    if isinstance(e, pydantic.ValidationError):
        return _settings_error(e)
    if isinstance(e, OSError):
        return _os_error(e)
    if isinstance(e, UnicodeError):
        return f"not UTF-8 text: {_first_line(str(e))}", EXIT_USAGE
    if isinstance(e, ValueError):
        return _first_line(str(e)) or type(e).__name__, EXIT_USAGE
    detail = _first_line(str(e))
    return (
        f"internal error: {type(e).__name__}{': ' + detail if detail else ''} "
        "(HANOTA_TRACEBACK=1 shows the traceback)",
        EXIT_INTERNAL,
    )
