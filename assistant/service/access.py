"""Who may do what: integrators' bearer keys and per-key rate limits on the OpenAI-compatible routes, the
policy interpreters' reviewer tokens, and the one way every token is compared.

Keys come from `POLICY_QA_API_KEYS` (`key` or `key:N`, comma-separated) and are compared in constant time on
their UTF-8 bytes. Without keys the routes are open and each client address is limited instead. A limit is
a sliding window of one minute; the number of callers tracked at once is bounded, so that a flood of new
addresses costs memory only up to that bound.
"""

import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from assistant.errors import PolicyQAError, RateLimited, Unauthorized

WINDOW_SECONDS = 60.0
# Wrong keys a client address may try in a window before it must wait: keys cannot be guessed at speed.
MAX_FAILED_KEYS = 20
# The most callers (keys or addresses) whose recent requests are remembered; the least recent is forgotten.
MAX_TRACKED = 10_000


class KeyConfigError(PolicyQAError):
    """POLICY_QA_API_KEYS or POLICY_QA_REVIEWER_TOKEN is malformed; the message says which entry."""


def token_matches(offered: str | None, expected: bytes) -> bool:
    """Constant-time comparison on UTF-8 bytes. A token typed into the app arrives as text; one sent in an HTTP
    header arrives as its bytes decoded as Latin-1, so those bytes are compared too."""
    if not offered:
        return False
    candidates = [offered.encode("utf-8")]
    try:
        candidates.append(offered.encode("latin-1"))
    except UnicodeEncodeError:
        pass
    # Both comparisons always run: the time taken does not tell which form came close.
    return any([secrets.compare_digest(candidate, expected) for candidate in candidates])


# A reviewer token shorter than this is refused at start-up: it would be guessed.
MIN_REVIEWER_TOKEN_BYTES = 12


def parse_reviewers(value: str, admin_token: str = "") -> list[tuple[str, bytes]]:
    """`POLICY_QA_REVIEWER_TOKEN`: one token, or `名字=token` entries separated by commas, so that a verified
    answer records which interpreter checked it. The part before the first `=` is a name only when it holds a
    Chinese character or a space: a base64 token such as `dGVzdA==` stays one token."""
    reviewers = []
    for n, entry in enumerate((e.strip() for e in value.split(",")), start=1):
        if not entry:
            continue
        name, _, token = entry.partition("=")
        if not token or not any(not c.isascii() or c.isspace() for c in name):
            name, token = "政策解读员", entry
        secret = token.strip().encode()
        if len(secret) < MIN_REVIEWER_TOKEN_BYTES:
            raise KeyConfigError(f"POLICY_QA_REVIEWER_TOKEN entry {n} is shorter than {MIN_REVIEWER_TOKEN_BYTES} bytes; use a longer token")
        if admin_token and secret == admin_token.encode():
            raise KeyConfigError(f"POLICY_QA_REVIEWER_TOKEN entry {n} equals the admin token; give interpreters a token of their own")
        reviewers.append((name.strip(), secret))
    return reviewers


@dataclass(frozen=True)
class ApiKey:
    secret: bytes
    limit: int  # requests a minute
    label: str  # what logs and errors may show: never the key itself


def parse_keys(value: str, default_limit: int) -> list[ApiKey]:
    """`key1,key2:120` → keys; a key's own `:N` overrides the default limit."""
    keys = []
    for n, entry in enumerate((e.strip() for e in value.split(",")), start=1):
        if not entry:
            continue
        secret, _, limit = entry.rpartition(":") if ":" in entry else (entry, "", "")
        if limit and not (limit.isascii() and limit.isdigit() and int(limit) > 0):
            raise KeyConfigError(f"POLICY_QA_API_KEYS entry {n}: '{limit}' is not a positive number of requests a minute")
        if not secret:
            raise KeyConfigError(f"POLICY_QA_API_KEYS entry {n} has no key before ':'")
        keys.append(ApiKey(secret.encode(), int(limit) if limit else default_limit, f"key {n}"))
    return keys


class IntegratorAccess:
    def __init__(self, keys: list[ApiKey], default_limit: int, clock: Callable[[], float] = time.monotonic):
        self.keys = keys
        self.default_limit = default_limit
        self.clock = clock
        self._recent: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def keys_required(self) -> bool:
        return bool(self.keys)

    def admit(self, authorization: str | None, client: str, count: bool = True) -> str:
        """The caller's label if it may make one more request now; else Unauthorized or RateLimited. With
        `count` false the request needs a key but does not use up the caller's limit."""
        if self.keys:
            try:
                key = self._key(authorization)
            except Unauthorized:
                self._count(f"wrong keys from {client}", MAX_FAILED_KEYS)
                raise
            caller, limit = key.label, key.limit
        else:
            caller, limit = f"client {client}", self.default_limit
        if count:
            self._count(caller, limit)
        return caller

    def _key(self, authorization: str | None) -> ApiKey:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("missing API key: send the header 'Authorization: Bearer <key>' with a key from POLICY_QA_API_KEYS")
        # Every key is compared, so the time taken does not tell which one came close.
        matches = [key for key in self.keys if token_matches(token.strip(), key.secret)]
        if not matches:
            raise Unauthorized("invalid API key: ask the operator of this server for a key")
        return matches[0]

    def _count(self, caller: str, limit: int) -> None:
        now = self.clock()
        with self._lock:
            recent = self._recent.pop(caller, None) or deque()
            while recent and now - recent[0] >= WINDOW_SECONDS:
                recent.popleft()
            self._recent[caller] = recent
            while len(self._recent) > MAX_TRACKED:
                self._recent.popitem(last=False)
            if len(recent) >= limit:
                retry_after = max(1, int(WINDOW_SECONDS - (now - recent[0])) + 1)
                raise RateLimited(f"rate limit of {limit} requests a minute reached for {caller}; retry in {retry_after} s", retry_after)
            recent.append(now)
