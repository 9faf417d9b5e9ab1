"""Silences, pure: matcher syntax round trips, what counts as silencing everything, limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.silences import (
    Matcher,
    SilenceError,
    check_end,
    check_matchers,
    matchers_from_labels,
    matchers_text,
    parse_matchers,
    silence_end,
)

NOW = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
values = st.text(min_size=0, max_size=300).filter(lambda v: "\r" not in v)


@given(st.lists(st.tuples(names, values, st.booleans()), min_size=1, max_size=8))
def test_matchers_survive_the_text_round_trip(items: list[tuple[str, str, bool]]) -> None:
    matchers = tuple(Matcher(n, v, is_regex=False, is_equal=eq) for n, v, eq in items)
    assert parse_matchers("\n".join(m.to_text() for m in matchers)) == matchers


@pytest.mark.parametrize(("line", "expected"), [
    ('alertname="A"', Matcher("alertname", "A")),
    ('  job =~ "api|web" ', Matcher("job", "api|web", is_regex=True)),
    ('env!="prod"', Matcher("env", "prod", is_equal=False)),
    ('env!~"dev.*"', Matcher("env", "dev.*", is_regex=True, is_equal=False)),
    ('q="say \\"hi\\" \\\\ back"', Matcher("q", 'say "hi" \\ back')),
    ('op="a=~b"', Matcher("op", "a=~b")),
    ('city="Zürich ✓ 東京"', Matcher("city", "Zürich ✓ 東京")),
    ("bare=value with spaces", Matcher("bare", "value with spaces")),
])
def test_one_matcher_per_line(line: str, expected: Matcher) -> None:
    assert parse_matchers(line) == (expected,)


@pytest.mark.parametrize(("text", "says"), [
    ("alertname", "Line 1"),
    ('\n\nalertname="A', "Line 3: the quoted value is not closed"),
    ('job=~"("', "not a valid regular expression"),
    ('9job="x"', "Line 1"),
    ('long="' + "x" * 2001 + '"', "longer than 2000"),
    ("\n".join(f'l{i}="x"' for i in range(31)), "At most 30 matchers"),
])
def test_bad_matcher_text_names_the_line(text: str, says: str) -> None:
    with pytest.raises(SilenceError) as err:
        parse_matchers(text)
    assert says in str(err.value)


@pytest.mark.parametrize(("matchers", "says"), [
    ((), "at least one matcher"),
    ((Matcher("alertname", ".*", is_regex=True),), "match any alert"),
    ((Matcher("a", ".*", is_regex=True), Matcher("b", "(.|\n)*", is_regex=True)),
     "match any alert"),
    ((Matcher("env", "prod", is_equal=False),), "match any alert"),
    ((Matcher("job", ".*api.*|", is_regex=True),), "require a value"),
])
def test_silencing_everything_is_refused(matchers: tuple[Matcher, ...], says: str) -> None:
    with pytest.raises(SilenceError) as err:
        check_matchers(matchers)
    assert says in str(err.value)


def test_a_narrow_matcher_with_a_wide_one_is_fine() -> None:
    ok = (Matcher("alertname", "A"), Matcher("instance", ".*", is_regex=True))
    assert check_matchers(ok) == ok


def test_prefill_from_labels_puts_alertname_first_and_fits_the_input() -> None:
    labels = {"zone": "eu", "alertname": "A", "empty": "", "long": "x" * 2990}
    matchers = matchers_from_labels(labels)
    assert [m.name for m in matchers] == ["alertname", "long", "zone"]
    text = matchers_text(matchers)
    assert len(text) <= 3000 and text.splitlines() == ['alertname="A"', 'zone="eu"']


@pytest.mark.parametrize(("choice", "until", "expected"), [
    ("1h", None, NOW + timedelta(hours=1)),
    ("4h", None, NOW + timedelta(hours=4)),
    ("24h", None, NOW + timedelta(hours=24)),
    ("until", NOW + timedelta(days=7), NOW + timedelta(days=7)),
])
def test_durations(choice: str, until: datetime | None, expected: datetime) -> None:
    assert silence_end(choice, until, NOW) == expected


@pytest.mark.parametrize(("choice", "until", "says"), [
    ("until", None, "Pick a duration"),
    ("2h", None, "Pick a duration"),
    ("until", NOW + timedelta(days=7, seconds=1), "at most 7 days"),
    ("until", NOW, "already past"),
])
def test_bad_durations(choice: str, until: datetime | None, says: str) -> None:
    with pytest.raises(SilenceError) as err:
        silence_end(choice, until, NOW)
    assert says in str(err.value)


def test_extending_past_seven_days_is_refused() -> None:
    with pytest.raises(SilenceError):
        check_end(NOW + timedelta(days=7, hours=1), NOW)
