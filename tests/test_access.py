"""Integrators' keys and rate limits (the service's `IntegratorAccess`), without a server."""

import pytest

from assistant.errors import RateLimited, Unauthorized
from assistant.service.access import IntegratorAccess, KeyConfigError, parse_keys


def test_keys_are_parsed_with_their_own_limits():
    keys = parse_keys(" sk-a , sk-b:5,,广元密钥:2 ", default_limit=60)
    assert [(k.secret.decode(), k.limit, k.label) for k in keys] == [("sk-a", 60, "key 1"), ("sk-b", 5, "key 2"), ("广元密钥", 2, "key 4")]
    for bad, problem in (
        ("sk-a:0", "positive"),
        ("sk-a:00", "positive"),
        ("sk-a:²", "positive"),
        ("sk-a:many", "positive"),
        (":5", "no key"),
    ):
        with pytest.raises(KeyConfigError, match=problem):
            parse_keys(bad, 60)


def test_without_keys_each_client_address_is_limited():
    access = IntegratorAccess([], default_limit=2)
    assert not access.keys_required
    access.admit(None, "10.0.0.1")
    access.admit(None, "10.0.0.1")
    with pytest.raises(RateLimited) as error:
        access.admit(None, "10.0.0.1")
    assert 1 <= error.value.retry_after <= 61 and error.value.status == 429
    access.admit(None, "10.0.0.2")  # another address has its own count


def test_with_keys_a_request_needs_one():
    access = IntegratorAccess(parse_keys("sk-a,广元密钥:1", 60), default_limit=60)
    with pytest.raises(Unauthorized, match="Authorization: Bearer"):
        access.admit(None, "10.0.0.1")
    with pytest.raises(Unauthorized, match="invalid API key"):
        access.admit("Bearer sk-b", "10.0.0.1")
    assert access.admit("Bearer sk-a", "10.0.0.1") == "key 1"
    # A server hands header bytes over as Latin-1: the UTF-8 key sent as bytes matches.
    raw = "Bearer 广元密钥".encode().decode("latin-1")
    assert access.admit(raw, "10.0.0.1") == "key 2"
    with pytest.raises(RateLimited, match="key 2"):
        access.admit(raw, "10.0.0.9")  # the key's limit, whichever address it comes from


def test_the_window_is_one_minute():
    now = [1000.0]
    access = IntegratorAccess([], default_limit=1, clock=lambda: now[0])
    access.admit(None, "10.0.0.1")
    with pytest.raises(RateLimited) as error:
        access.admit(None, "10.0.0.1")
    assert error.value.retry_after == 61
    now[0] += 59.5
    with pytest.raises(RateLimited) as error:
        access.admit(None, "10.0.0.1")
    assert error.value.retry_after == 1
    now[0] += 0.5
    access.admit(None, "10.0.0.1")  # the first request has left the window


def test_wrong_keys_are_limited_per_address_and_listing_is_not_counted():
    access = IntegratorAccess(parse_keys("sk-a:1", 60), default_limit=60)
    for _ in range(20):
        with pytest.raises(Unauthorized):
            access.admit("Bearer guess", "10.0.0.66")
    with pytest.raises(RateLimited, match="wrong keys"):
        access.admit("Bearer guess", "10.0.0.66")
    for _ in range(3):
        access.admit("Bearer sk-a", "10.0.0.1", count=False)
    access.admit("Bearer sk-a", "10.0.0.1")
    with pytest.raises(RateLimited):
        access.admit("Bearer sk-a", "10.0.0.1")


def test_reviewer_tokens_names_and_their_limits():
    from assistant.service.access import parse_reviewers

    assert parse_reviewers("dGVzdGluZ3Rva2VuMTI=") == [("政策解读员", b"dGVzdGluZ3Rva2VuMTI=")]  # base64 stays whole
    assert parse_reviewers("王解读=token-of-wang-1, 李 解读=token-of-li-22") == [
        ("王解读", b"token-of-wang-1"),
        ("李 解读", b"token-of-li-22"),
    ]
    with pytest.raises(KeyConfigError, match="shorter than 12 bytes"):
        parse_reviewers("short")
    with pytest.raises(KeyConfigError, match="equals the admin token"):
        parse_reviewers("王解读=the-admin-token", admin_token="the-admin-token")
