"""A throwaway PostgreSQL for tests: found binaries + initdb + pg_ctl, or a configured DSN.

Binaries are looked up in `$ASSAY_PG_BIN`, then next to `initdb` on PATH, then in the
usual package locations (`/usr/lib/postgresql/*/bin`, newest version first). initdb
refuses to run as root, so as root the server runs as an unprivileged account
(`$ASSAY_PG_USER`, else `postgres`, else `nobody`) in a temporary directory it owns.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from assay.testing.errors import ServiceStartError
from assay.testing.services import LogSource, free_port, read_log_tail

__all__ = [
    "DSN_ENV",
    "PG_BIN_ENV",
    "PG_USER_ENV",
    "PostgresService",
    "find_pg_bin",
    "parse_postgres_dsn",
    "running_postgres",
]

PG_BIN_ENV = "ASSAY_PG_BIN"
PG_USER_ENV = "ASSAY_PG_USER"
DSN_ENV = "ASSAY_POSTGRES_DSN"
BIN_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin")
_TOOLS = ("initdb", "pg_ctl")


@dataclass(frozen=True)
class PostgresService(LogSource):
    """Connection facts of a PostgreSQL server; `dsn` is a libpq URL for any driver."""

    host: str
    port: int
    user: str
    dbname: str
    password: str | None = field(default=None, repr=False)
    log_path: Path | None = None

    @property
    def dsn(self) -> str:
        """`postgresql://user[:password]@host:port/dbname`."""
        auth = quote(self.user, safe="")
        if self.password is not None:
            auth += ":" + quote(self.password, safe="")
        host = f"[{self.host}]" if ":" in self.host else quote(self.host, safe="")
        return f"postgresql://{auth}@{host}:{self.port}/{quote(self.dbname, safe='')}"

    def log_files(self) -> list[tuple[str, Path]]:
        return [("postgres log", self.log_path)] if self.log_path else []


def parse_postgres_dsn(dsn: str) -> PostgresService:
    """Read a `postgresql://` URL or a libpq `key=value` string (values without spaces)."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        if parts.scheme not in ("postgres", "postgresql"):
            raise ValueError(f"not a PostgreSQL URL: {parts.scheme}://...")
        user = unquote(parts.username or "postgres")
        return PostgresService(
            host=parts.hostname or "localhost",
            port=parts.port or 5432,
            user=user,
            dbname=unquote(parts.path.lstrip("/")) or user,
            password=unquote(parts.password) if parts.password is not None else None,
        )
    try:
        pairs = dict(word.split("=", 1) for word in dsn.split())
    except ValueError:
        raise ValueError("a PostgreSQL DSN is a URL or key=value pairs") from None
    user = pairs.get("user", "postgres")
    return PostgresService(
        host=pairs.get("host", "localhost"),
        port=int(pairs.get("port", "5432")),
        user=user,
        dbname=pairs.get("dbname", user),
        password=pairs.get("password"),
    )


def _has_tools(directory: Path) -> bool:
    return all(os.access(directory / tool, os.X_OK) for tool in _TOOLS)


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path))


def find_pg_bin(
    environ: Mapping[str, str] | None = None, globs: Sequence[str] | None = None
) -> Path | None:
    """The directory holding initdb and pg_ctl (`$ASSAY_PG_BIN`, PATH, then `globs`,
    default `BIN_GLOBS`, newest version first), or None when PostgreSQL is not installed."""
    environ = os.environ if environ is None else environ
    globs = BIN_GLOBS if globs is None else globs
    explicit = environ.get(PG_BIN_ENV)
    if explicit:
        if not _has_tools(Path(explicit)):
            raise ServiceStartError(f"{PG_BIN_ENV}={explicit} does not contain initdb and pg_ctl")
        return Path(explicit)
    on_path = shutil.which("initdb", path=environ.get("PATH", ""))
    if on_path and _has_tools(Path(on_path).parent):
        return Path(on_path).parent
    found = [path for pattern in globs for path in glob.glob(pattern)]
    for candidate in sorted(found, key=_version_key, reverse=True):
        if _has_tools(Path(candidate)):
            return Path(candidate)
    return None


@dataclass(frozen=True)
class _Account:
    name: str
    uid: int
    gid: int


def _unprivileged_account(environ: Mapping[str, str]) -> _Account:
    import pwd

    names = [environ[PG_USER_ENV]] if environ.get(PG_USER_ENV) else ["postgres", "nobody"]
    for name in names:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _Account(name, entry.pw_uid, entry.pw_gid)
    raise ServiceStartError(
        f"running as root, and initdb refuses to: none of the accounts {names} exists "
        f"to run PostgreSQL as (set {PG_USER_ENV})"
    )


class _Runner:
    """Runs PostgreSQL tools in `workdir`, as `account` when given."""

    def __init__(self, bin_dir: Path, workdir: Path, account: _Account | None) -> None:
        self._bin_dir = bin_dir
        self._workdir = workdir
        self._account = account
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        self._env.update(LC_ALL="C", HOME=str(workdir))

    def __call__(self, tool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
        argv = [str(self._bin_dir / tool), *map(str, args)]
        account = self._account
        return subprocess.run(
            argv,
            cwd=self._workdir,
            env=self._env,
            capture_output=True,
            text=True,
            check=False,
            user=account.uid if account else None,
            group=account.gid if account else None,
            extra_groups=[] if account else None,
        )

    def check(self, tool: str, *args: str | Path, log: Path | None = None) -> None:
        done = self(tool, *args)
        if done.returncode != 0:
            as_user = f" as {self._account.name}" if self._account else ""
            message = (
                f"{shlex.join(done.args)}{as_user} failed with exit code {done.returncode}:\n"
                f"{done.stdout}{done.stderr}"
            )
            if log is not None and log.exists():
                message += f"\n--- {log} ---\n{read_log_tail(log)}"
            raise ServiceStartError(message)


def _server_settings(port: int, socket_dir: Path) -> str:
    return (
        "\n# assay.testing: a throwaway server\n"
        "listen_addresses = '127.0.0.1'\n"
        f"port = {port}\n"
        f"unix_socket_directories = '{socket_dir}'\n"
        "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
    )


@contextmanager
def running_postgres(bin_dir: Path, *, user: str = "postgres") -> Iterator[PostgresService]:
    """Create a cluster in a temporary directory, start it on a free port of 127.0.0.1 (and
    a unix socket in the same directory), yield its connection facts, then stop it and
    delete everything. Authentication is `trust`; the database is `postgres`."""
    account = _unprivileged_account(os.environ) if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="assay-pg-"))
    try:
        data, sockets, log = base / "data", base / "socket", base / "postgres.log"
        sockets.mkdir()
        if account is not None:
            for path in (base, sockets):
                os.chown(path, account.uid, account.gid)
        run = _Runner(bin_dir, base, account)
        run.check("initdb", "-D", data, "-U", user, "-A", "trust", "-E", "UTF8", "--locale=C", "-N")
        port = free_port()
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(_server_settings(port, sockets))
        run.check("pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "start", log=log)
        try:
            yield PostgresService("127.0.0.1", port, user, "postgres", log_path=log)
        finally:
            run("pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "60", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)
