"""Users and their keys: where they come from, and the generated first-start key.

Each access key is a user. Keys come from, in order of precedence:
`--credentials FILE` (a TOML file of ``[[users]]`` tables with ``access_key``,
``secret_key`` and an optional ``name``), `--access-key/--secret-key` or the
``HAMSTER_ACCESS_KEY``/``HAMSTER_SECRET_KEY`` environment variables, or else a
key pair generated on first start and kept in the data directory
(``credentials.toml``, mode 0600). The server is never open.

This runs once at startup, before the request path exists; its file access is
the CLI's edge, not the storage layer's.
"""

from __future__ import annotations

import os
import string
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from hamster.runtime import Runtime

GENERATED_CREDENTIALS_FILE = "credentials.toml"

_ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_KEY_ALPHABET = string.ascii_letters + string.digits + "+/"


class ConfigError(Exception):
    """Bad configuration; the message says what to fix."""


@dataclass(frozen=True)
class User:
    access_key: str
    secret_key: str
    name: str


class UserDirectory:
    """The users this server knows, by access key."""

    def __init__(self, users: Iterable[User]) -> None:
        self._by_key: dict[str, User] = {}
        for user in users:
            if user.access_key in self._by_key:
                raise ConfigError(f"access key {user.access_key!r} is listed twice")
            self._by_key[user.access_key] = user
        if not self._by_key:
            raise ConfigError("no users configured")

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[User]:
        return iter(self._by_key.values())

    def get(self, access_key: str) -> User | None:
        return self._by_key.get(access_key)

    def secret_for(self, access_key: str) -> str | None:
        user = self._by_key.get(access_key)
        return user.secret_key if user is not None else None


def _check_key_pair(access_key: object, secret_key: object, where: str) -> tuple[str, str]:
    if not isinstance(access_key, str) or not access_key:
        raise ConfigError(f"{where}: access_key must be a non-empty string")
    if not isinstance(secret_key, str) or not secret_key:
        raise ConfigError(f"{where}: secret_key must be a non-empty string")
    if len(access_key) < 3 or any(c.isspace() or c in ":/," for c in access_key):
        raise ConfigError(
            f"{where}: access_key must be at least 3 characters, without spaces, ':', '/' or ','"
        )
    if len(secret_key) < 8:
        raise ConfigError(f"{where}: secret_key must be at least 8 characters")
    return access_key, secret_key


def parse_credentials_toml(text: str, where: str) -> list[User]:
    """Users from the text of a credentials TOML file."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from exc
    tables = doc.get("users")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{where}: expected one or more [[users]] tables")
    users = []
    for index, table in enumerate(tables, start=1):
        here = f"{where}: [[users]] #{index}"
        if not isinstance(table, Mapping):
            raise ConfigError(f"{here}: not a table")
        unknown = set(table) - {"access_key", "secret_key", "name"}
        if unknown:
            raise ConfigError(f"{here}: unknown field(s) {', '.join(sorted(unknown))}")
        access_key, secret_key = _check_key_pair(
            table.get("access_key"), table.get("secret_key"), here
        )
        name = table.get("name", access_key)
        if not isinstance(name, str):
            raise ConfigError(f"{here}: name must be a string")
        users.append(User(access_key, secret_key, name))
    return users


def render_credentials_toml(users: Iterable[User]) -> str:
    def q(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    parts = ["# Hamster credentials. Keep this file private (mode 0600).\n"]
    for user in users:
        parts.append(
            f"\n[[users]]\nname = {q(user.name)}\naccess_key = {q(user.access_key)}\n"
            f"secret_key = {q(user.secret_key)}\n"
        )
    return "".join(parts)


def generate_user(runtime: Runtime) -> User:
    """A fresh random key pair (20-character access key, 40-character secret)."""

    def draw(alphabet: str, length: int) -> str:
        # Rejection sampling keeps every character equally likely.
        out: list[str] = []
        limit = 256 - 256 % len(alphabet)
        while len(out) < length:
            for byte in runtime.entropy.token_bytes(length * 2):
                if byte < limit and len(out) < length:
                    out.append(alphabet[byte % len(alphabet)])
        return "".join(out)

    return User(draw(_ACCESS_KEY_ALPHABET, 20), draw(_SECRET_KEY_ALPHABET, 40), "admin")


@dataclass(frozen=True)
class LoadedUsers:
    users: UserDirectory
    source: str  # a human description of where the keys came from
    generated: User | None  # set when a key pair was generated on this start


def load_users(
    *,
    data_dir: str,
    credentials_file: str | None,
    access_key: str | None,
    secret_key: str | None,
    runtime: Runtime,
) -> LoadedUsers:
    """Decide the users for this run (see the module docstring for precedence)."""
    if credentials_file is not None:
        try:
            with open(credentials_file, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise ConfigError(f"cannot read credentials file {credentials_file}: {exc}") from exc
        users = parse_credentials_toml(text, credentials_file)
        return LoadedUsers(UserDirectory(users), credentials_file, None)
    if access_key or secret_key:
        key, secret = _check_key_pair(access_key, secret_key, "access/secret key")
        return LoadedUsers(UserDirectory([User(key, secret, key)]), "flags/environment", None)
    path = os.path.join(data_dir, GENERATED_CREDENTIALS_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        user = generate_user(runtime)
        _write_private_file(path, render_credentials_toml([user]))
        return LoadedUsers(UserDirectory([user]), path, user)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return LoadedUsers(UserDirectory(parse_credentials_toml(text, path)), path, None)


def _write_private_file(path: str, text: str) -> None:
    """Write `text` to `path` atomically and durably, readable by the owner only."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
