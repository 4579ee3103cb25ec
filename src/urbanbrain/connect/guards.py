"""Sources cannot be turned against the platform: where a system may point, checked when a system is
added or changed (with the acting principal) and again every time a source is opened (`open_source`).

- `files` and `sqlite` paths must resolve (symlinks and `..` followed) under a configured root:
  `URBANBRAIN_FILE_ROOTS` (paths separated by `os.pathsep`), by default `<working directory>/data`.
  Whatever the roots say, nothing under `URBANBRAIN_HOME` (the metadata database, the key file,
  caches), the warehouse, the metadata database or the key file is ever accepted — except the demo's
  own folder `URBANBRAIN_HOME/demo`, which only a platform admin may register (the demo does, as SYSTEM).
- database and REST hosts: when `URBANBRAIN_SOURCE_HOSTS` lists hosts (names, addresses or CIDR
  networks, comma-separated; `*` for any public host), only those are accepted; loopback, link-local, unspecified and
  multicast addresses are refused unless listed there, whether written as an address or a name that
  resolves to one. The demo and the tests list their loopback services explicitly.
- the demo writes `URBANBRAIN_HOME/source-allow.json` (`{"hosts": [...]}`) for its own loopback
  services, so a later `urbanbrain serve` on the same home keeps syncing them; the file lives with
  the rest of the state only the operator can write.

A DNS name is resolved when checked; a name re-pointed between the check and the connection (DNS
rebinding) is not caught here, so production sites should also list `URBANBRAIN_SOURCE_HOSTS`.
"""

from __future__ import annotations

import glob
import ipaddress
import json
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from urbanbrain.core.errors import PermissionDeniedError
from urbanbrain.core.settings import get_settings

if TYPE_CHECKING:
    from urbanbrain.govern.principals import Principal

ALLOW_FILE = "source-allow.json"
DEMO_FOLDER = "demo"
HOST_KINDS = ("postgres", "mysql", "rest")


def _refuse(message: str, hint: str) -> PermissionDeniedError:
    return PermissionDeniedError(message, hint=hint)


# --- paths ---------------------------------------------------------------------------------------


def file_roots() -> list[Path]:
    raw = get_settings().file_roots
    parts = [p for p in (raw.split(os.pathsep) if raw else []) if p.strip()]
    roots = parts or [str(Path.cwd() / "data")]
    return [Path(p).expanduser().resolve() for p in roots]


def _metadata_file() -> Path | None:
    url = get_settings().metadata_url
    if not url.startswith("sqlite:///"):
        return None
    return Path(url[len("sqlite:///"):].split("?", 1)[0]).expanduser().resolve()


def forbidden_paths() -> list[Path]:
    """What a source may never read: the platform's state, wherever it was configured to live."""
    settings = get_settings()
    home = settings.home.expanduser().resolve()
    found = [home, settings.warehouse_path, home / "secret.key"]
    meta = _metadata_file()
    if meta is not None:
        found += [meta, meta.parent / (meta.name + "-wal"), meta.parent / (meta.name + "-journal")]
    return found


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _resolved(raw: str) -> list[Path]:
    """The paths a source option really names: a glob's matches (and its fixed prefix), symlinks and `..`
    resolved, so a link inside a root that points outside is judged by where it points."""
    text = os.path.expanduser(raw)
    if not os.path.isabs(text):
        text = os.path.join(os.getcwd(), text)
    if not glob.has_magic(text):
        path = Path(text)
        found = [path.resolve()]
        if path.is_dir():  # a folder is read file by file (not recursively): judge each file too
            found += [child.resolve() for child in path.iterdir()]
        return found
    prefix = Path(text.split("*")[0].split("?")[0].split("[")[0])
    found = [prefix.resolve() if prefix.exists() else prefix.parent.resolve()]
    found += [Path(p).resolve() for p in glob.glob(text, recursive=True)]
    return found


def check_path(raw: str, *, by: Principal | None = None, kind: str = "files") -> None:
    """Refuse a path outside the file roots or inside the platform's own state (see the module doc).

    `by` is the principal registering the path (None at connect time: the source was accepted when
    registered, and is checked again so a later symlink or setting change cannot widen it)."""
    home = get_settings().home.expanduser().resolve()
    demo = home / DEMO_FOLDER
    admin = by is None or by.is_platform_admin
    for path in _resolved(raw):
        in_demo = _under(path, demo)
        if not (in_demo and admin):
            for bad in forbidden_paths():
                if _under(path, bad):
                    raise _refuse(f"a {kind} system may not read {path}: it holds urbanbrain's own state",
                                  "point it at the department's own files under URBANBRAIN_FILE_ROOTS")
        if in_demo and admin:
            continue
        roots = file_roots()
        if not any(_under(path, root) for root in roots):
            raise _refuse(f"a {kind} system may only read files under {', '.join(map(str, roots))}, not {path}",
                          "ask the platform operator to add the folder to URBANBRAIN_FILE_ROOTS")


def sqlite_path(options: dict[str, Any]) -> str | None:
    raw = str(options.get("path") or options.get("url") or "")
    if raw.startswith("sqlite:///"):
        raw = raw[len("sqlite:///"):]
        raw = "/" + raw.lstrip("/") if not raw.startswith(".") else raw
    elif raw.startswith("sqlite://"):
        raw = raw[len("sqlite://"):]
    return raw.split("?", 1)[0] or None


# --- hosts ---------------------------------------------------------------------------------------


def _entries() -> list[str]:
    raw = get_settings().source_hosts or ""
    hosts = [h.strip().lower() for h in raw.split(",") if h.strip()]
    return hosts + demo_allowances()


def demo_allowances() -> list[str]:
    """Hosts the demo registered for its own services in this home (see the module doc)."""
    path = get_settings().home.expanduser().resolve() / ALLOW_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [str(h).lower() for h in data.get("hosts", []) if isinstance(h, str)]


def allow_demo_hosts(hosts: list[str]) -> None:
    """The demo vouches for its own loopback services (PostgreSQL, MariaDB, its REST simulator)."""
    home = get_settings().home_dir
    known = demo_allowances()
    wanted = sorted(set(known) | {h.lower() for h in hosts})
    (home / ALLOW_FILE).write_text(json.dumps({"hosts": wanted}, indent=1) + "\n")


def _listed(host: str, addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address], entries: list[str]) -> bool:
    for entry in entries:
        if entry == host:
            return True
        try:
            net = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if addresses and all(a in net for a in addresses):
            return True
    return False


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return []  # unresolvable now: connecting will fail too, and is checked again then
    found = []
    for info in infos:
        try:
            found.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        except ValueError:
            continue
    return found


def _internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (address.is_loopback or address.is_link_local or address.is_unspecified or address.is_multicast
            or (isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None
                and _internal(address.ipv4_mapped)))


def check_host(host: str, *, kind: str) -> None:
    """Refuse a host off the allow-list (when one is set), and loopback/link-local ones unless listed."""
    host = host.strip().lower().strip("[]")
    if not host:
        raise _refuse(f"a {kind} system needs a host", "give the URL's host name")
    entries = _entries()
    addresses = _addresses(host)
    if _listed(host, addresses, entries):
        return
    if get_settings().source_hosts and "*" not in entries:
        raise _refuse(f"host {host!r} is not in URBANBRAIN_SOURCE_HOSTS",
                      "ask the platform operator to add it to URBANBRAIN_SOURCE_HOSTS")
    if host == "localhost" or host.endswith(".localhost") or any(_internal(a) for a in addresses):
        raise _refuse(f"a {kind} system may not connect to {host!r}: it is this machine or a link-local address",
                      "list it in URBANBRAIN_SOURCE_HOSTS if this machine really hosts the department's system")


def url_host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


# --- the check every source goes through ---------------------------------------------------------


# The metadata tables the platform itself publishes into its lake (`operate.publish`: the event loop's
# case tables). A system over the metadata store is accepted only for these tables and only from a
# platform admin (the platform, after authorising `case.publish`); every other table of the store
# (users, keys, grants, the audit log) can never be read by a source.
PUBLISHABLE_TABLES = frozenset({"cases", "case_events", "dispatch_rules", "sla_policies"})


def _publishes_metadata(kind: str, options: dict[str, Any], by: Principal | None) -> bool:
    """Whether these options read the metadata store itself, as the platform's own publication."""
    if kind == "sqlite":
        raw, meta = sqlite_path(options), _metadata_file()
        is_meta = bool(raw and meta and Path(raw).expanduser().resolve() == meta)
    elif kind == "postgres":
        is_meta = _same_database(str(options.get("url") or ""), get_settings().metadata_url)
    else:
        return False
    if not is_meta:
        return False
    tables = options.get("tables")
    if not (by is None or by.is_platform_admin) or not isinstance(tables, list) or not tables \
            or not set(map(str, tables)) <= PUBLISHABLE_TABLES:
        raise _refuse(f"a {kind} system may not read urbanbrain's own metadata database: it holds urbanbrain's "
                      "own state", "register the department's database, not the platform's")
    return True


def check_source(kind: str, options: dict[str, Any], by: Principal | None = None) -> None:
    """Refuse options that would make a source read the platform itself or call internal addresses."""
    if _publishes_metadata(kind, options, by):
        return
    if kind == "files":
        raw = options.get("path")
        if raw:
            check_path(str(raw), by=by, kind=kind)
    elif kind == "sqlite":
        raw = sqlite_path(options)
        if raw:
            check_path(raw, by=by, kind=kind)
    elif kind in HOST_KINDS:
        url = str(options.get("url") or "")
        if url:
            check_host(url_host(url), kind=kind)
            if kind == "postgres" and _same_database(url, get_settings().metadata_url):
                raise _refuse("a postgres system may not read urbanbrain's own metadata database",
                              "register the department's database, not the platform's")


def _same_database(url: str, metadata_url: str) -> bool:
    """Whether `url` names the metadata store's PostgreSQL database (same port and name, same or local host)."""
    if not metadata_url.startswith("postgresql"):
        return False
    try:
        a, b = urlsplit(url), urlsplit(metadata_url)
        ports = (a.port or 5432, b.port or 5432)
    except ValueError:
        return True  # a URL we cannot even parse is not accepted next to the metadata store
    if ports[0] != ports[1] or a.path.strip("/").lower() != b.path.strip("/").lower():
        return False
    hosts = {(a.hostname or "").lower(), (b.hostname or "").lower()}
    if len(hosts) == 1:
        return True
    return all(any(_internal(x) for x in _addresses(h)) or h == "localhost" for h in hosts)
