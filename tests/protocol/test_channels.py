"""Channel grammar and wildcard expansion (docs/protocol.md §1.1, §1.2; checklist 52, 55-59)."""

from __future__ import annotations

import pytest

from protocol import channels

NAMES = [
    "/foo",
    "/foo/bar",
    "/a/b/c/d/e",
    "/A/z/0/9",
    "/a-_!~()$@",
    "/meta",
    "/meta/handshake",
    "/service/x",
    "/metadata",
]
PATTERNS = ["/*", "/**", "/foo/*", "/foo/**", "/a/b/**", "/meta/*", "/service/**"]
INVALID = [
    pytest.param("foo", id="no-leading-slash"),
    pytest.param("/", id="bare-slash"),
    pytest.param("//a", id="empty-segment"),
    pytest.param("/a//b", id="empty-inner-segment"),
    pytest.param("/a/", id="trailing-slash"),
    pytest.param("/meta/x/", id="meta-trailing-slash"),
    pytest.param("/a.b", id="dot"),
    pytest.param("/a b", id="space"),
    pytest.param("/a%20", id="percent"),
    pytest.param("/a+b", id="plus"),
    pytest.param("/a:b", id="colon"),
    pytest.param("/café", id="non-ascii"),
    pytest.param("/\uff41", id="fullwidth-letter"),
    pytest.param("/\u0661", id="non-ascii-digit"),
    pytest.param("/foo\n", id="trailing-newline"),
    pytest.param("", id="empty"),
    pytest.param("/foo*", id="star-inside-segment"),
    pytest.param("/foo/***", id="triple-star"),
    pytest.param("/foo/*/bar", id="star-not-last"),
    pytest.param("/*/foo", id="leading-star"),
    pytest.param("/**/foo", id="leading-double-star"),
    pytest.param("*", id="star-without-slash"),
    pytest.param(123, id="number"),
    pytest.param(None, id="null"),
    pytest.param(["/foo"], id="list"),
    pytest.param({"channel": "/foo"}, id="object"),
]


@pytest.mark.parametrize("name", NAMES)
def test_s1_1_channel_name_grammar_accepts(name: str) -> None:
    assert channels.is_name(name)
    assert not channels.is_pattern(name)
    assert channels.is_valid(name)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_s1_1_channel_pattern_grammar_accepts(pattern: str) -> None:
    assert channels.is_pattern(pattern)
    assert not channels.is_name(pattern)
    assert channels.is_valid(pattern)


@pytest.mark.parametrize("channel", INVALID)
def test_s1_1_invalid_channels_are_neither_names_nor_patterns(channel: object) -> None:
    assert not channels.is_name(channel)
    assert not channels.is_pattern(channel)
    assert not channels.is_valid(channel)


@pytest.mark.parametrize(
    ("channel", "meta", "service", "subscribable"),
    [
        ("/meta/handshake", True, False, False),
        ("/meta", True, False, False),
        ("/meta/*", True, False, False),
        ("/meta/**", True, False, False),
        ("/meta/subscribe/x", True, False, False),
        ("/service/x", False, True, False),
        ("/service", False, True, False),
        ("/service/**", False, True, False),
        ("/foo", False, False, True),
        ("/foo/meta", False, False, True),
        ("/foo/service/x", False, False, True),
        ("/metadata", False, False, True),
        ("/services", False, False, True),
        ("/Meta/x", False, False, True),
        ("/*", False, False, True),
        ("/**", False, False, True),
        ("/meta/x/", False, False, False),
        ("/service/x/", False, False, False),
        ("/a.b", False, False, False),
        (None, False, False, False),
        (123, False, False, False),
    ],
)
def test_s1_1_is_meta_is_service_is_subscribable(
    channel: object, meta: bool, service: bool, subscribable: bool
) -> None:
    assert (channels.is_meta(channel), channels.is_service(channel), channels.is_subscribable(channel)) == (
        meta,
        service,
        subscribable,
    )


def test_s1_3_exactly_five_meta_channels_have_handlers() -> None:
    handlers = {"/meta/handshake", "/meta/connect", "/meta/subscribe", "/meta/unsubscribe", "/meta/disconnect"}
    assert handlers == channels.META_CHANNELS
    assert (
        channels.HANDSHAKE,
        channels.CONNECT,
        channels.SUBSCRIBE,
        channels.UNSUBSCRIBE,
        channels.DISCONNECT,
    ) == ("/meta/handshake", "/meta/connect", "/meta/subscribe", "/meta/unsubscribe", "/meta/disconnect")


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("/a", ("/**", "/a", "/*")),
        ("/a/b", ("/**", "/a/b", "/a/*", "/a/**")),
        ("/a/b/c", ("/**", "/a/b/c", "/a/b/*", "/a/**", "/a/b/**")),
        ("/a/b/c/d", ("/**", "/a/b/c/d", "/a/b/c/*", "/a/**", "/a/b/**", "/a/b/c/**")),
        ("/service/x", ("/**", "/service/x", "/service/*", "/service/**")),
    ],
)
def test_s1_2_expand_lists_faye_keys_in_order(name: str, keys: tuple[str, ...]) -> None:
    assert channels.expand(name) == keys


@pytest.mark.parametrize("name", ["/a", "/a/b", "/a/b/c", "/x/y/z/w/v"])
def test_s1_2_expand_has_no_duplicates_so_each_client_gets_one_copy(name: str) -> None:
    keys = channels.expand(name)
    assert len(set(keys)) == len(keys)
    assert all(channels.is_valid(key) for key in keys)


@pytest.mark.parametrize(
    ("subscription", "published", "delivered"),
    [
        pytest.param("/foo", "/foo", True, id="exact"),
        pytest.param("/foo", "/foo/bar", False, id="exact-not-child"),
        pytest.param("/foo/*", "/foo/bar", True, id="c55-star-child"),
        pytest.param("/foo/*", "/foo/bar/baz", False, id="c55-star-not-grandchild"),
        pytest.param("/foo/*", "/foo", False, id="c55-star-not-parent"),
        pytest.param("/foo/**", "/foo/bar", True, id="c56-globstar-child"),
        pytest.param("/foo/**", "/foo/bar/baz", True, id="c56-globstar-grandchild"),
        pytest.param("/foo/**", "/foo", False, id="c56-globstar-not-parent"),
        pytest.param("/*", "/foo", True, id="c57-root-star-one-segment"),
        pytest.param("/*", "/foo/bar", False, id="c57-root-star-not-two-segments"),
        pytest.param("/**", "/foo/bar/baz", True, id="c58-root-globstar-everything"),
        pytest.param("/**", "/service/x", True, id="c58-root-globstar-service-D6"),
        pytest.param("/foo/bar/*", "/foo/bar/qux", True, id="s6-auth-example-star"),
        pytest.param("/foo/bar/**", "/foo/bar/qux", True, id="s6-auth-example-globstar"),
        pytest.param("/bar/**", "/foo/bar/qux", False, id="other-prefix"),
    ],
)
def test_s1_2_wildcard_routing(subscription: str, published: str, delivered: bool) -> None:
    assert (subscription in channels.expand(published)) is delivered


def test_c59_overlapping_subscriptions_are_one_union() -> None:
    subscribed = {"/foo", "/foo/*", "/**"}
    assert subscribed & set(channels.expand("/foo/x")) == {"/foo/*", "/**"}


_OVERLAP_NAMES = ["/a", "/b", "/a/b", "/a/c", "/a/b/c", "/b/a", "/a/b/c/d"]
_OVERLAP_PATTERNS = ["/**", "/*", "/a/*", "/a/**", "/a/b/*", "/a/b/**", "/b/*", "/b/**", "/a/b/c/*"]
_OVERLAP_PROBES = [*_OVERLAP_NAMES, "/a/x", "/a/b/x", "/x", "/a/b/c/x", "/b/x", "/b/a/x", "/a/b/c/d/e"]


def _matches(channel: str, name: str) -> bool:
    return channel == name or channel in channels.expand(name)


@pytest.mark.parametrize("first", _OVERLAP_NAMES + _OVERLAP_PATTERNS)
@pytest.mark.parametrize("second", _OVERLAP_NAMES + _OVERLAP_PATTERNS)
def test_s1_2_overlaps_agrees_with_routing(first: str, second: str) -> None:
    """Two channels overlap exactly when some published name would reach both (checked against expand)."""
    expected = any(_matches(first, name) and _matches(second, name) for name in _OVERLAP_PROBES)
    assert channels.overlaps(first, second) is expected
    assert channels.overlaps(second, first) is expected


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [("/**", "/anything/at/all", True), ("/a/*", "/a/b/*", False), ("/a/*", "/a/**", True),
     ("/a/b", "/a/*", True), ("/a", "/a/*", False), ("/a/b", "/a/b", True), ("/a/b", "/a/c", False)],
)
def test_s1_2_overlaps_examples(first: str, second: str, expected: bool) -> None:
    assert channels.overlaps(first, second) is expected
