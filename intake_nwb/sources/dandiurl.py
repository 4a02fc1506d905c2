"""DANDI identifiers, read lexically (no I/O): instances, ``dandi://`` URLs and dandi-cli's forms.

The grammar is dandi-cli's (``dandi/dandiarchive.py``) and dandifs's, so the same strings work
in all three::

    dandi://<instance>/<dandiset>[@<version>][/<path or glob>]
    <INSTANCE>:<dandiset>[/<version>]                          DANDI:000006/0.220126.1855
    https://<web server>/dandiset/<dandiset>[/<version>][/files[?location=<folder>]]
    https://<api server>[/api]/dandisets/<dandiset>[/versions[/<version>]]
        .../versions/<version>/assets/<asset id>[/download]
        .../versions/<version>/assets/?path=<prefix>  or  ?glob=<API glob>
    https://identifiers.org/DANDI:<dandiset>[/<version>]
    https://doi.org/10.48324/dandi.<dandiset>/<version>
    <dandiset>                                                 000006

``<instance>`` is a name dandi-cli knows (``dandi``, ``dandi-sandbox``, ``linc``,
``ember-dandi``, ...; dandifs's older names ``dandi-staging``, ``ember`` and ``ember-sandbox``
are aliases), or ``host[:port]`` of an API served at ``https://host[:port]/api``. A version is
``0.YYMMDD.HHMM`` (published, immutable) or ``draft``. Paths are percent-decoded, as dandi-cli
does (asset paths cannot hold ``%``); the URLs written here percent-encode the few characters
that are glob patterns or URL syntax (``[ ] # ? * %`` and controls).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, replace

from ..errors import IntakeNWBError

DANDI_API_URL = "https://api.dandiarchive.org/api"

#: dandi-cli's instances (``dandi.consts.known_instances``): name -> (web server, API).
INSTANCES: dict[str, tuple[str, str]] = {
    "dandi": ("https://dandiarchive.org", DANDI_API_URL),
    "dandi-sandbox": ("https://sandbox.dandiarchive.org", "https://api.sandbox.dandiarchive.org/api"),
    "dandi-api-local-docker-tests": ("http://localhost:8085", "http://localhost:8000/api"),
    "linc": ("https://lincbrain.org", "https://api.lincbrain.org/api"),
    "linc-staging": ("https://staging.lincbrain.org", "https://staging-api.lincbrain.org/api"),
    "ember-dandi": ("https://dandi.emberarchive.org", "https://api-dandi.emberarchive.org/api"),
    "ember-dandi-sandbox": ("https://dandi.sandbox.emberarchive.org",
                            "https://api-dandi.sandbox.emberarchive.org/api"),
}
#: Names dandifs (and older dandi-cli releases) use for the same instances.
ALIASES = {"dandi-staging": "dandi-sandbox", "ember": "ember-dandi",
           "ember-sandbox": "ember-dandi-sandbox"}
#: Published DANDI DOIs: ``10.48324/dandi.<dandiset>/<version>``.
DANDI_DOI_PREFIX = "10.48324"
ZARR_SUFFIXES = (".zarr", ".ngff")

_ID = r"(?P<dandiset>\d{6})"
_VERSION = r"(?P<version>\d+\.\d+\.\d+|draft)"
_PUBLISHED = r"(?P<version>\d+\.\d+\.\d+)"
_SERVER = r"(?P<server>https?://[^/?#]+)"
_DANDI_URL = re.compile(
    rf"dandi://(?P<instance>[-\w.]+(?::\d+)?)/{_ID}(?:@{_VERSION})?(?:/(?P<path>.*))?", re.S)
_FORMS: list[tuple[str, re.Pattern[str]]] = [
    ("bare", re.compile(_ID)),
    ("prefixed", re.compile(rf"(?P<instance>[a-z][-a-z]*):{_ID}(?:/{_VERSION})?", re.I)),
    ("identifiers", re.compile(rf"https?://identifiers\.org/DANDI:{_ID}(?:/{_PUBLISHED})?/?",
                               re.I)),
    ("doi", re.compile(rf"(?:(?:https?://(?:dx\.)?doi\.org/)|doi:)?{re.escape(DANDI_DOI_PREFIX)}"
                       rf"/dandi\.{_ID}/{_PUBLISHED}/?", re.I)),
    ("web", re.compile(rf"{_SERVER}/(?:api/)?(?:#/)?dandiset/{_ID}(?:/{_VERSION})?"
                       r"(?:/files(?:\?location=(?P<location>[^&#]*))?)?/?")),
    ("api", re.compile(rf"{_SERVER}(?P<api>/api)?/dandisets/{_ID}"
                       rf"(?:/versions(?:/{_VERSION})?)?/?")),
    ("api", re.compile(rf"{_SERVER}(?P<api>/api)?/dandisets/{_ID}/versions/{_VERSION}"
                       r"/assets/(?P<asset_id>[-0-9a-fA-F]{36})(?:/(?:download/?)?)?")),
    ("api", re.compile(rf"{_SERVER}(?P<api>/api)?/dandisets/{_ID}/versions/{_VERSION}"
                       r"/assets/?\?(?P<query>(?:path|glob)=[^&#]+)")),
]
_ASSET_ONLY = re.compile(rf"{_SERVER}(?:/api)?/assets/[-0-9a-fA-F]{{36}}(?:/.*)?")
# percent-encoded in the URLs written here: glob patterns, URL syntax, "%", controls, non-ASCII
_QUOTE_SAFE = "/@:()&,+=~ !$;'"


class DandiURLError(IntakeNWBError, ValueError):
    """Not a DANDI identifier this package (or dandi-cli) knows how to read."""


@dataclass(frozen=True)
class DandiRef:
    """A dandiset on one DANDI instance, maybe a version of it, maybe a part of that version.

    At most one selection is set: ``path`` (an asset, a folder or an fsspec glob over asset
    paths, as in ``dandi://`` URLs), ``prefix`` (the API's ``?path=``: paths starting with it,
    case-insensitive), ``api_glob`` (the API's ``?glob=``: ``*`` matches anything, ``/`` too,
    case-insensitive) or ``asset_id``.

    Examples
    --------
    >>> ref = parse_dandiset("DANDI:000006/0.220126.1855")
    >>> ref.instance, ref.dandiset_id, ref.version, ref.api_url
    ('dandi', '000006', '0.220126.1855', 'https://api.dandiarchive.org/api')
    >>> ref.url("sub-anm369962/sub-anm369962_ses-20170316.nwb")
    'dandi://dandi/000006@0.220126.1855/sub-anm369962/sub-anm369962_ses-20170316.nwb'
    """

    api_url: str
    instance: str
    dandiset_id: str
    version: str | None = None
    path: str = ""
    prefix: str | None = None
    api_glob: str | None = None
    asset_id: str | None = None

    @property
    def selects(self) -> bool:
        """Names part of the version (a path, prefix, glob or asset), not all of it."""
        return bool(self.path or self.prefix or self.api_glob or self.asset_id)

    def at(self, version: str) -> DandiRef:
        return replace(self, version=version)

    def within(self, path: str) -> DandiRef:
        return replace(self, path=path)

    def name(self, path: str | None = None) -> str:
        """The fsspec path (``<instance>/<dandiset>[@<version>][/<path>]``, not encoded)."""
        path = self.path if path is None else path
        head = f"{self.instance}/{self.dandiset_id}" + (f"@{self.version}" if self.version
                                                         else "")
        return f"{head}/{path}" if path else head

    def url(self, path: str | None = None) -> str:
        """``dandi://<instance>/<dandiset>[@<version>][/<path>]`` (see :func:`quote_name`)."""
        return "dandi://" + quote_name(self.name(path))


def quote_name(name: str) -> str:
    """Percent-encode what is not plain text in a ``dandi://`` path (``[``, ``]``, ``#``...).

    Examples
    --------
    >>> quote_name("dandi/000006@draft/sub-1/sub-1_ses-[a].nwb")
    'dandi/000006@draft/sub-1/sub-1_ses-%5Ba%5D.nwb'
    """
    return urllib.parse.quote(name, safe=_QUOTE_SAFE)


def instance_name(api_url: str) -> str:
    """The name ``dandi://`` URLs use for an API: dandi-cli's, else its ``host[:port]``.

    Examples
    --------
    >>> instance_name("https://api.dandiarchive.org/api/"), instance_name("http://127.0.0.1:8000/api")
    ('dandi', '127.0.0.1:8000')
    """
    api_url = api_url.rstrip("/")
    for name, (_, api) in INSTANCES.items():
        if api == api_url:
            return name
    netloc = urllib.parse.urlsplit(api_url).netloc
    if not netloc:
        raise DandiURLError("not an http(s) URL of a DANDI API", source=api_url)
    return netloc.lower()


def instance_api(name: str, source: str) -> str:
    """The API of a ``dandi://`` instance name: a known name or alias, else ``host[:port]``."""
    key = ALIASES.get(name.lower(), name.lower())
    if key in INSTANCES:
        return INSTANCES[key][1]
    if "." in name or ":" in name:  # host[:port]: the archive's layout, https
        return f"https://{name}/api"
    raise DandiURLError(f"unknown DANDI instance {name!r} (known: "
                        f"{', '.join(sorted([*INSTANCES, *ALIASES]))}; or give host[:port], or "
                        "api_url= in the storage options)", source=source)


def canonical_instance(name: str) -> str:
    return ALIASES.get(name.lower(), name.lower())


def parse_dandi_url(url: str, *, api_url: str | None = None, instance: str | None = None
                    ) -> DandiRef:
    """Parse ``dandi://<instance>/<dandiset>[@<version>][/<path>]`` (also without ``dandi://``).

    ``api_url``/``instance``: an API this URL's instance may name (``instance`` defaults to
    :func:`instance_name` of it), as :class:`~intake_nwb.sources.dandi.DandiFileSystem`'s
    storage options give it; other instances are looked up by name.

    Examples
    --------
    >>> ref = parse_dandi_url("dandi://dandi/000006/sub-*/*.nwb")
    >>> ref.version is None, ref.path
    (True, 'sub-*/*.nwb')
    >>> parse_dandi_url("dandi://local/000123@draft", api_url="http://127.0.0.1:8000/api",
    ...                 instance="local").api_url
    'http://127.0.0.1:8000/api'
    """
    text = url if url.startswith("dandi://") else f"dandi://{url}"
    m = _DANDI_URL.fullmatch(text)
    if m is None:
        raise DandiURLError("not a dandi://<instance>/<dandiset>[@<version>][/<path>] URL",
                            source=url)
    name = canonical_instance(m["instance"])
    bound = None
    if api_url is not None:
        bound = canonical_instance(instance or instance_name(api_url))
    api = api_url.rstrip("/") if bound == name and api_url else instance_api(name, url)
    path = urllib.parse.unquote(m["path"] or "").strip("/")
    return DandiRef(api, name, m["dandiset"], m["version"], check_path(path, url))


def parse_dandiset(identifier: str, *, api_url: str | None = None) -> DandiRef:
    """Parse any identifier form of the module documentation.

    ``api_url``: the API to ask, whatever server the identifier names (a mirror, a local test
    archive); default: the identifier's own (a bare id: the DANDI archive).

    Examples
    --------
    >>> ref = parse_dandiset("https://dandiarchive.org/dandiset/000006/draft/files?location=sub-a")
    >>> ref.instance, ref.version, ref.path
    ('dandi', 'draft', 'sub-a/')
    >>> parse_dandiset("000006").url()
    'dandi://dandi/000006'
    """
    text = str(identifier).strip()
    if text.startswith("dandi://"):
        m = _DANDI_URL.fullmatch(text)
        ref = parse_dandi_url(text, api_url=api_url, instance=m["instance"] if m else None)
        return ref if api_url is None else replace(ref, instance=instance_name(api_url))
    for form, rx in _FORMS:
        m = rx.fullmatch(text)
        if m is not None:
            return _from_match(form, m, text, api_url)
    if _ASSET_ONLY.fullmatch(text):
        raise DandiURLError("names an asset but not its dandiset version; use "
                            ".../dandisets/<dandiset>/versions/<version>/assets/<asset id>/",
                            source=text)
    raise DandiURLError("not a DANDI identifier: expected e.g. 000006, DANDI:000006/0.220126.1855,"
                        " https://dandiarchive.org/dandiset/000006[/<version>] or "
                        "dandi://dandi/000006@<version>/<path>", source=text)


def _from_match(form: str, m: re.Match[str], text: str, api_url: str | None) -> DandiRef:
    groups = m.groupdict()
    if api_url is not None:
        api = api_url.rstrip("/")
    elif form == "prefixed":  # names only (no dots): a known instance or an error
        api = instance_api(groups["instance"], text)
    elif form in ("bare", "identifiers", "doi"):
        api = DANDI_API_URL
    elif form == "web":
        api = _web_api(groups["server"], text)
    else:  # an API URL: the API is where it says
        api = groups["server"] + "/api" if groups.get("api") else _web_api(groups["server"], text)
    ref = DandiRef(api, instance_name(api), groups["dandiset"], groups.get("version"))
    location = groups.get("location")
    if location:
        folder = check_path(urllib.parse.unquote(location).strip("/"), text)
        return replace(ref, path=folder + "/" if folder else "")
    if groups.get("asset_id"):
        return replace(ref, asset_id=groups["asset_id"].lower())
    query = groups.get("query")
    if query:
        key, _, value = query.partition("=")
        value = urllib.parse.unquote_plus(value)
        return replace(ref, prefix=value) if key == "path" else replace(ref, api_glob=value)
    return ref


def _web_api(server: str, text: str) -> str:
    server = server.rstrip("/").lower()
    for gui, api in INSTANCES.values():
        if server in (gui, api.removesuffix("/api")):
            return api
    raise DandiURLError("a DANDI web server this package does not know; give api_url= "
                        "(--api-url) to name its API", source=text)


def check_path(path: str, source: str) -> str:
    """``path`` if it can be an asset path, a folder (``sub-1/``) or a glob over them.

    The archive accepts only relative paths of plain segments; anything else in an API answer
    or a URL is refused here rather than passed on (no ``..``, ``.`` or empty segments, no
    backslashes, control characters or leading ``/``).

    Examples
    --------
    >>> check_path("sub-1/sub-1_ses-1.nwb", "x")
    'sub-1/sub-1_ses-1.nwb'
    >>> check_path("sub-1/../../etc/passwd", "x")
    Traceback (most recent call last):
    ...
    intake_nwb.sources.dandiurl.DandiURLError: x: not a DANDI asset path: 'sub-1/../../etc/passwd'
    """
    body = path[:-1] if path.endswith("/") else path
    bad = (path.startswith("/") or "\\" in path or any(ord(c) < 32 or ord(c) == 127 for c in path)
           or (body and any(seg in ("", ".", "..") for seg in body.split("/"))))
    if bad:
        raise DandiURLError(f"not a DANDI asset path: {path!r}", source=source)
    return path


def zarr_root(path: str) -> str | None:
    """The leading part of ``path`` that names a Zarr asset by its suffix, if any.

    Examples
    --------
    >>> zarr_root("sub-1/sub-1_ses-1.nwb.zarr/acquisition/.zattrs")
    'sub-1/sub-1_ses-1.nwb.zarr'
    """
    parts = path.split("/")
    for i, part in enumerate(parts):
        if part.lower().endswith(ZARR_SUFFIXES):
            return "/".join(parts[:i + 1])
    return None


_ENTITY = re.compile(r"(?:^|_)(?P<key>sub|ses)-(?P<label>[^_/]+?)(?=_|\.|$)")


def path_labels(path: str) -> dict[str, str | None]:
    """``subject`` and ``session`` labels of a DANDI (BIDS-like) asset path, else None.

    DANDI names NWB assets ``sub-<subject>/sub-<subject>[_ses-<session>][_<modality>].nwb``;
    the file name's labels win over the folder's.

    Examples
    --------
    >>> path_labels("sub-anm369962/sub-anm369962_ses-20170316_ecephys+ogen.nwb")
    {'subject': 'anm369962', 'session': '20170316'}
    >>> path_labels("sub-01/sub-01_ecephys.nwb.zarr")
    {'subject': '01', 'session': None}
    """
    out: dict[str, str | None] = {"subject": None, "session": None}
    keys = {"sub": "subject", "ses": "session"}
    for segment in path.rstrip("/").split("/"):  # later segments (the file name) win
        for m in _ENTITY.finditer(segment):
            out[keys[m["key"]]] = m["label"]
    return out
