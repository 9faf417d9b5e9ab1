"""Runbook domain: parameters, argv, approval rules and request transitions."""

from __future__ import annotations

import string
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import parse_config
from bot.domain.config import ParamSpec, Runbook
from bot.domain.remediation import (
    RunRequest,
    TransitionError,
    check_runnable,
    fingerprint,
    lock_key_for,
    new_request,
    policy_of,
    transition,
)
from bot.domain.runbooks import (
    MAX_VALUE_LENGTH,
    ParamError,
    approvers_ok,
    build_argv,
    check_default,
    describe_argv,
    may_request,
    parse_args,
    validate_params,
)

NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)

CONFIG = parse_config({
    "timezone": "UTC",
    "teams": {
        "payments": {
            "channel": "C0PAYMENTS",
            "managers": ["U0MANAGER"],
            "rotations": [
                {"name": "primary", "members": ["U0ALICE", "U0BOB"],
                 "start": "2026-11-02T09:00", "shift": "1w"},
                {"name": "secondary", "members": ["U0CAROL"],
                 "start": "2026-11-02T09:00", "shift": "1w"},
            ],
        },
        "search": {
            "channel": "C0SEARCH",
            "managers": ["U0BOSS"],
            "rotations": [{"name": "primary", "members": ["U0SAM"],
                           "start": "2026-11-02T09:00", "shift": "1w"}],
        },
    },
    "runbooks": {
        "restart-api": {
            "command": ["kubectl", "rollout", "restart", "deployment/{service}", "-n", "payments"],
            "params": {"service": {"choices": ["payments-api", "payments-worker"]}},
            "teams": ["payments"],
            "approval": "manager",
        },
        "scale": {
            "command": ["kubectl", "scale", "--replicas={replicas}", "deployment/{service}"],
            "params": {
                "service": {"pattern": "[a-z][a-z0-9-]*"},
                "replicas": {"type": "int", "min": 1, "max": 10, "default": 2},
            },
            "teams": ["payments"],
            "approval": "oncall",
        },
    },
})
RESTART = CONFIG.runbooks["restart-api"]
SCALE = CONFIG.runbooks["scale"]
POLICIES = ("none", "oncall", "manager", "two-person")

# Values an attacker would try; each must be refused or stay one inert element.
INJECTIONS = ["; rm -rf /", "$(id)", "`id`", "a\nb", "a\x00b", "--output=/etc/passwd",
              "{other}", "{service}", "x && curl evil", "a|b", "'quoted'", "$HOME", "a\u202eb",
              "-rf", "a\rb", "*", "../../etc/passwd"]


def runbook(**changes) -> Runbook:
    return replace(RESTART, **changes)


def free_text_runbook(pattern: str = ".*") -> Runbook:
    """A deliberately permissive runbook: only the universal rules protect it."""
    return Runbook(
        name="echo", description="", command=("echo", "--msg={msg}", "{msg}", "x{other}y"),
        params=(ParamSpec(name="msg", pattern=pattern), ParamSpec(name="other", pattern=pattern)),
        teams=("payments",), approval="two-person", timeout=timedelta(seconds=5),
    )


# ---------------------------------------------------------------- parse_args


def test_parse_args_splits_on_first_equals():
    assert parse_args(["service=payments-api", "q=a=b", "empty="]) == {
        "service": "payments-api", "q": "a=b", "empty": ""}


@pytest.mark.parametrize("words, fragment", [
    (["service"], "Expected key=value"),
    (["=x"], "Missing the parameter name"),
    (["a=1", "a=2"], "given twice"),
])
def test_parse_args_errors(words, fragment):
    with pytest.raises(ParamError) as err:
        parse_args(words)
    assert fragment in err.value.message


def test_parse_args_error_does_not_echo_unsafe_word():
    with pytest.raises(ParamError) as err:
        parse_args(["$(curl evil)\n<!channel>"])
    assert "$(" not in err.value.message and "\n" not in err.value.message
    assert "<!channel>" not in err.value.message


# ---------------------------------------------------------------- validation


def test_choices_accepted_and_refused():
    assert validate_params(RESTART, {"service": "payments-api"}) == {"service": "payments-api"}
    with pytest.raises(ParamError) as err:
        validate_params(RESTART, {"service": "payments"})
    assert "must be one of" in err.value.message and "`payments-api`" in err.value.message


def test_pattern_must_match_whole_value():
    assert validate_params(SCALE, {"service": "api-2"})["service"] == "api-2"
    for value in ("api;id", "api 2", "API", "api\n"):
        with pytest.raises(ParamError):
            validate_params(SCALE, {"service": value})


def test_int_range_default_and_normalisation():
    assert validate_params(SCALE, {"service": "api"}) == {"service": "api", "replicas": "2"}
    assert validate_params(SCALE, {"service": "api", "replicas": "007"})["replicas"] == "7"
    for bad in ("0", "11", "1.5", " 3", "+3", "3 ", "1_0", "٣", "0x3", "99999999999999999999"):
        with pytest.raises(ParamError) as err:
            validate_params(SCALE, {"service": "api", "replicas": bad})
        assert "whole number" in err.value.message or "must not start" in err.value.message


def test_negative_int_allowed_by_a_negative_min():
    spec = ParamSpec(name="n", type="int", min=-5, max=5)
    rb = runbook(command=("tool", "{n}"), params=(spec,))
    assert validate_params(rb, {"n": "-3"}) == {"n": "-3"}
    with pytest.raises(ParamError, match="from -5 to 5"):
        validate_params(rb, {"n": "-6"})
    unbounded = runbook(command=("tool", "{n}"), params=(replace(spec, min=0),))
    with pytest.raises(ParamError):  # no negative min: a leading - is refused
        validate_params(unbounded, {"n": "-3"})
    listed = runbook(command=("tool", "{n}"), params=(replace(spec, choices=("-3", "3")),))
    assert validate_params(listed, {"n": "-3"}) == {"n": "-3"}


def test_leading_dash_refused_unless_an_int_range_goes_below_zero():
    dash = "Parameter `n` must not start with `-` (it could be read as an option of the command)."
    for spec in (ParamSpec(name="n", type="int", min=0, max=5), ParamSpec(name="n", type="int"),
                 ParamSpec(name="n", type="int", max=5), ParamSpec(name="n", min=-5)):
        with pytest.raises(ParamError) as err:
            validate_params(runbook(command=("tool", "{n}"), params=(spec,)), {"n": "-1"})
        assert err.value.message == dash, spec
    below = ParamSpec(name="n", type="int", min=-1)
    assert validate_params(runbook(command=("tool", "{n}"), params=(below,)), {"n": "-1"}) == {"n": "-1"}


def test_check_default_normalises_or_refuses_the_configured_default():
    assert check_default(ParamSpec(name="n", type="int", min=1, max=10, default="007")) == "7"
    assert check_default(ParamSpec(name="s", choices=("a", "b"), default="b")) == "b"
    with pytest.raises(ParamError) as err:
        check_default(ParamSpec(name="n", type="int", min=1, max=10, default="11"))
    assert err.value.message == "Parameter `n` must be a whole number from 1 to 10; got `11`."
    with pytest.raises(AssertionError):
        check_default(ParamSpec(name="n"))


def test_required_missing_and_unknown():
    with pytest.raises(ParamError, match="Missing parameter `service`") as err:
        validate_params(RESTART, {})
    assert "payments-worker" in err.value.message  # the hint lists the choices
    with pytest.raises(ParamError, match="Unknown parameter `colour`"):
        validate_params(RESTART, {"service": "payments-api", "colour": "red"})


def test_optional_without_default_is_absent_and_its_lone_element_dropped():
    rb = runbook(command=("tool", "{flag}", "--level={flag}"),
                 params=(ParamSpec(name="flag", choices=("x",), required=False),))
    assert validate_params(rb, {}) == {}
    assert build_argv(rb, {}) == ("tool", "--level=")
    assert build_argv(rb, {"flag": "x"}) == ("tool", "x", "--level=x")


@pytest.mark.parametrize("value", INJECTIONS)
def test_strict_pattern_refuses_every_injection(value):
    with pytest.raises(ParamError) as err:
        validate_params(SCALE, {"service": value})
    message = err.value.message
    for unsafe in ("\n", "\r", "\x00", "$(", "`id`", "; rm", "\u202e", "{other}", "&&"):
        assert unsafe not in message


@pytest.mark.parametrize("value", ["a\nb", "a\x00b", "a\rb", "tab\there", "a\u202eb",
                                   "zero\u200bwidth", "line\u2028sep", "--output=/etc/passwd",
                                   "-rf", ""])
def test_universal_rules_refuse_whatever_the_pattern(value):
    with pytest.raises(ParamError) as err:
        validate_params(free_text_runbook(".*"), {"msg": value, "other": "ok"})
    assert value == "" or value not in err.value.message


def test_leading_dash_allowed_only_when_listed_in_choices():
    rb = runbook(command=("tool", "{mode}"), params=(ParamSpec(name="mode", choices=("--dry-run",)),))
    assert build_argv(rb, {"mode": "--dry-run"}) == ("tool", "--dry-run")


def test_overlong_value_refused():
    with pytest.raises(ParamError, match="longer than"):
        validate_params(free_text_runbook(), {"msg": "a" * 300, "other": "ok"})


def test_error_shows_a_harmless_value():
    with pytest.raises(ParamError) as err:
        validate_params(RESTART, {"service": "billing"})
    assert "got `billing`" in err.value.message


def test_range_ends_are_accepted_and_just_outside_refused():
    for edge in ("1", "10"):
        assert validate_params(SCALE, {"service": "api", "replicas": edge})["replicas"] == edge
    for outside in ("0", "11"):
        with pytest.raises(ParamError, match="from 1 to 10"):
            validate_params(SCALE, {"service": "api", "replicas": outside})


@pytest.mark.parametrize("bounds, outside, text", [
    ({"min": 3}, "2", "of at least 3"),
    ({"max": 3}, "4", "of at most 3"),
])
def test_one_sided_range(bounds, outside, text):
    rb = runbook(command=("tool", "{n}"), params=(ParamSpec(name="n", type="int", **bounds),))
    edge = str(bounds.get("min", bounds.get("max")))
    assert validate_params(rb, {"n": edge}) == {"n": edge}
    with pytest.raises(ParamError) as err:
        validate_params(rb, {"n": outside})
    assert err.value.message == f"Parameter `n` must be a whole number {text}; got `{outside}`."
    with pytest.raises(ParamError) as err:
        validate_params(rb, {})
    assert err.value.message == f"Missing parameter `n` for runbook `restart-api` (a whole number {text})."


def test_unbounded_int_accepts_eighteen_digits_and_refuses_nineteen():
    rb = runbook(command=("tool", "{n}"), params=(ParamSpec(name="n", type="int"),))
    assert validate_params(rb, {"n": "9" * 18}) == {"n": "9" * 18}
    assert validate_params(rb, {"n": "0" + "9" * 17}) == {"n": "9" * 17}
    with pytest.raises(ParamError) as err:
        validate_params(rb, {"n": "1" + "0" * 18})
    assert err.value.message == "Parameter `n` must be a whole number; got `1000000000000000000`."
    with pytest.raises(ParamError, match="whole number;"):
        validate_params(rb, {"n": "x"})
    with pytest.raises(ParamError) as err:
        validate_params(rb, {})
    assert err.value.message == "Missing parameter `n` for runbook `restart-api`."


def test_negative_number_of_eighteen_digits_is_a_number():
    spec = ParamSpec(name="n", type="int", choices=("-" + "9" * 18,))
    rb = runbook(command=("tool", "{n}"), params=(spec,))
    assert validate_params(rb, {"n": "-" + "9" * 18}) == {"n": "-" + "9" * 18}


def test_value_of_max_length_accepted_one_more_refused():
    longest = "a" * MAX_VALUE_LENGTH
    assert MAX_VALUE_LENGTH == 256
    argv = build_argv(free_text_runbook(), {"msg": longest, "other": "ok"})
    assert argv[2] == longest
    with pytest.raises(ParamError) as err:
        validate_params(free_text_runbook(), {"msg": longest + "a", "other": "ok"})
    assert err.value.message == "Parameter `msg` is longer than 256 characters."


def test_absent_optional_parameter_does_not_stop_the_later_ones():
    rb = runbook(command=("tool", "{flag}", "--n={n}", "{who}"), params=(
        ParamSpec(name="flag", choices=("x",), required=False),
        ParamSpec(name="n", type="int", default="5"),
        ParamSpec(name="who", description="a Slack user id"),
    ))
    with pytest.raises(ParamError) as err:
        validate_params(rb, {})
    assert err.value.message == "Missing parameter `who` for runbook `restart-api` (a Slack user id)."
    assert validate_params(rb, {"who": "U1"}) == {"n": "5", "who": "U1"}
    assert build_argv(rb, {"who": "U1"}) == ("tool", "--n=5", "U1")


def test_default_is_validated_like_a_given_value():
    rb = runbook(command=("tool", "{n}"), params=(ParamSpec(name="n", type="int", default="007"),))
    assert validate_params(rb, {}) == {"n": "7"}


def test_value_that_is_not_text_refused():
    with pytest.raises(ParamError) as err:
        validate_params(RESTART, {"service": 3})
    assert err.value.message == "Parameter `service` must be text."


def test_error_messages_name_the_parameter_and_rule():
    with pytest.raises(ParamError) as err:
        validate_params(free_text_runbook(), {"msg": "", "other": "ok"})
    assert err.value.message == "Parameter `msg` must not be empty."
    with pytest.raises(ParamError) as err:
        validate_params(free_text_runbook(), {"msg": "a\nb", "other": "ok"})
    assert err.value.message == ("Parameter `msg` contains a control character (such as a newline); "
                                 "that is never allowed.")
    with pytest.raises(ParamError) as err:
        validate_params(free_text_runbook(), {"msg": "-x", "other": "ok"})
    assert err.value.message == ("Parameter `msg` must not start with `-` (it could be read as an "
                                 "option of the command).")
    with pytest.raises(ParamError) as err:
        validate_params(SCALE, {"service": "API"})
    assert err.value.message == ("Parameter `service` must match `[a-z][a-z0-9-]*` "
                                 "(the whole value); got `API`.")
    with pytest.raises(ParamError) as err:
        validate_params(RESTART, {"service": "billing"})
    assert err.value.message == ("Parameter `service` must be one of: `payments-api`, "
                                 "`payments-worker`; got `billing`.")
    with pytest.raises(ParamError) as err:
        validate_params(RESTART, {})
    assert err.value.message == ("Missing parameter `service` for runbook `restart-api` "
                                 "(one of: `payments-api`, `payments-worker`).")


def test_unknown_parameter_message_lists_the_known_ones():
    with pytest.raises(ParamError) as err:
        validate_params(SCALE, {"colour": "red"})
    assert err.value.message == ("Unknown parameter `colour` for runbook `scale`. "
                                 "Parameters: `service`, `replicas`.")
    with pytest.raises(ParamError) as err:
        validate_params(runbook(params=(), command=("tool",)), {"x": "1"})
    assert err.value.message.endswith("Parameters: none.")


def test_value_shown_only_up_to_forty_harmless_characters():
    with pytest.raises(ParamError) as err:
        validate_params(RESTART, {"service": "b" * 40})
    assert err.value.message.endswith(f"got `{'b' * 40}`.")
    with pytest.raises(ParamError) as err:
        validate_params(RESTART, {"service": "b" * 41})
    assert err.value.message.endswith("got the value given.")


def test_parse_args_messages():
    with pytest.raises(ParamError) as err:
        parse_args(["service"])
    assert err.value.message == ("Expected key=value, got `service`. "
                                 "Example: `/oncall run restart-api service=payments-api`")
    with pytest.raises(ParamError) as err:
        parse_args(["=x"])
    assert err.value.message == "Missing the parameter name before `=` in `=x`."
    with pytest.raises(ParamError) as err:
        parse_args(["a=1", "a=2"])
    assert err.value.message == "Parameter `a` is given twice."


# ---------------------------------------------------------------- argv


def test_build_argv_substitutes_inside_one_element():
    argv = build_argv(SCALE, {"service": "api", "replicas": "3"})
    assert argv == ("kubectl", "scale", "--replicas=3", "deployment/api")
    assert describe_argv(argv) == "kubectl scale --replicas=3 deployment/api"


@pytest.mark.parametrize("value", [v for v in INJECTIONS
                                   if v and v[0] != "-" and v.isprintable()])
def test_accepted_injection_stays_one_literal_element(value):
    rb = free_text_runbook()
    argv = build_argv(rb, {"msg": value, "other": "O"})
    assert argv == ("echo", f"--msg={value}", value, "xOy")
    assert len(argv) == len(rb.command)


def test_placeholder_in_value_is_not_expanded_and_no_format_spec():
    rb = free_text_runbook()
    argv = build_argv(rb, {"msg": "{other}{0}{msg.__class__}", "other": "{msg!r:>10}"})
    assert argv[2] == "{other}{0}{msg.__class__}"
    assert argv[3] == "x{msg!r:>10}y"


def test_build_argv_revalidates():
    with pytest.raises(ParamError):
        build_argv(RESTART, {"service": "payments-api; id"})


def test_describe_argv_quotes_for_display():
    assert describe_argv(("echo", "a b", "$(id)")) == "echo 'a b' '$(id)'"


@given(st.text(alphabet=string.printable + "{}éß€", max_size=60))
def test_any_value_is_refused_or_one_element(value):
    rb = free_text_runbook()
    try:
        argv = build_argv(rb, {"msg": value, "other": "o"})
    except ParamError as err:
        assert "\n" not in err.message and "\x0b" not in err.message
        return
    assert argv[2] == value and len(argv) == 4


# ---------------------------------------------------------------- access


def test_may_request_members_and_managers_only():
    assert may_request(RESTART, CONFIG, "U0ALICE")
    assert may_request(RESTART, CONFIG, "U0CAROL")  # any layer
    assert may_request(RESTART, CONFIG, "U0MANAGER")
    assert not may_request(RESTART, CONFIG, "U0SAM")  # another team
    assert not may_request(RESTART, CONFIG, "U0NOBODY")


@pytest.mark.parametrize("policy", POLICIES)
def test_self_approval_refused_for_every_policy(policy):
    rb = runbook(approval=policy)
    ok, reason = approvers_ok(rb, CONFIG, "U0MANAGER", "U0MANAGER", {"U0MANAGER"})
    assert not ok and reason == "You cannot approve your own request."


def test_manager_policy():
    assert approvers_ok(RESTART, CONFIG, "U0ALICE", "U0MANAGER", set()) == (True, "")
    ok, reason = approvers_ok(RESTART, CONFIG, "U0ALICE", "U0BOB", {"U0BOB"})
    assert not ok and "manager of payments" in reason
    ok, _ = approvers_ok(RESTART, CONFIG, "U0ALICE", "U0BOSS", set())  # manager of another team
    assert not ok


def test_oncall_policy_uses_on_call_now():
    rb = runbook(approval="oncall")
    assert approvers_ok(rb, CONFIG, "U0ALICE", "U0BOB", {"U0BOB", "U0CAROL"})[0]
    ok, reason = approvers_ok(rb, CONFIG, "U0ALICE", "U0BOB", {"U0CAROL"})
    assert not ok and "on call" in reason
    assert not approvers_ok(rb, CONFIG, "U0ALICE", "U0MANAGER", {"U0CAROL"})[0]


def test_two_person_policy():
    rb = runbook(approval="two-person")
    assert approvers_ok(rb, CONFIG, "U0ALICE", "U0CAROL", set())[0]
    assert approvers_ok(rb, CONFIG, "U0ALICE", "U0MANAGER", set())[0]
    ok, reason = approvers_ok(rb, CONFIG, "U0ALICE", "U0SAM", {"U0SAM"})
    assert not ok and "another member" in reason


def test_none_policy_needs_no_approval():
    rb = runbook(approval="none")
    req = new_request("r1", rb, {"service": "payments-api"}, "U0ALICE", "payments", NOW)
    assert req.state == "approved" and req.approver is None
    assert check_runnable(req, rb) == req.argv


def test_none_policy_lets_anyone_else_approve():
    rb = runbook(approval="none")
    assert approvers_ok(rb, CONFIG, "U0ALICE", "U0NOBODY", set()) == (True, "")


def test_unknown_policy_fails_closed():
    rb = runbook(approval="everyone")
    for approver in ("U0MANAGER", "U0BOB", "U0NOBODY"):
        assert approvers_ok(rb, CONFIG, "U0ALICE", approver, {approver}) == (
            False, "Unknown approval policy for runbook `restart-api`.")


@pytest.mark.parametrize("policy, reason", [
    ("oncall", "Only someone on call now for payments can approve this runbook."),
    ("manager", "Only a manager of payments can approve this runbook."),
    ("two-person", "Only another member of payments can approve this runbook."),
])
def test_refusal_names_the_teams(policy, reason):
    rb = runbook(approval=policy)
    assert approvers_ok(rb, CONFIG, "U0ALICE", "U0SAM", set()) == (False, reason)
    both = runbook(approval=policy, teams=("payments", "search"))
    ok, text = approvers_ok(both, CONFIG, "U0ALICE", "U0NOBODY", set())
    assert not ok and "payments, search" in text
    gone = runbook(approval=policy, teams=("deleted-team",))
    ok, text = approvers_ok(gone, CONFIG, "U0ALICE", "U0NOBODY", set())
    assert not ok and " its teams " in text


def test_policies_grant_with_an_empty_reason():
    assert approvers_ok(runbook(approval="oncall"), CONFIG, "U0ALICE", "U0BOB", {"U0BOB"}) == (True, "")
    assert approvers_ok(runbook(approval="two-person"), CONFIG, "U0ALICE", "U0CAROL", set()) == (True, "")


def test_approval_from_a_second_team_counts():
    both = runbook(approval="manager", teams=("deleted-team", "payments", "search"))
    assert approvers_ok(both, CONFIG, "U0ALICE", "U0BOSS", set()) == (True, "")
    assert may_request(both, CONFIG, "U0SAM")
    assert not may_request(runbook(teams=("deleted-team",)), CONFIG, "U0ALICE")


def test_undeclared_placeholder_is_a_programming_error():
    rb = runbook(command=("tool", "x{ghost}"))
    with pytest.raises(ValueError, match=r"runbook restart-api uses undeclared placeholder \{ghost\}"):
        build_argv(rb, {"service": "payments-api"})


# ---------------------------------------------------------------- requests


def pending(params=None, requester="U0ALICE") -> RunRequest:
    return new_request("r1", RESTART, params or {"service": "payments-api"}, requester,
                       "payments", NOW)


def test_new_request_fields():
    req = pending()
    assert req.state == "pending"
    assert req.argv == ("kubectl", "rollout", "restart", "deployment/payments-api", "-n",
                        "payments")
    assert req.expires_at == NOW + RESTART.approval_ttl
    assert req.fingerprint == fingerprint("restart-api", {"service": "payments-api"}, "U0ALICE",
                                          policy_of(RESTART))


def test_approve_then_run_lifecycle():
    req = transition(pending(), "approve", "U0MANAGER", NOW + timedelta(minutes=1))
    assert (req.state, req.approver) == ("approved", "U0MANAGER")
    req = transition(req, "start", "worker-1", NOW + timedelta(minutes=2))
    assert req.state == "running" and req.worker == "worker-1"
    req = transition(req, "succeeded", "worker-1", NOW + timedelta(minutes=3), exit_code=0,
                     output_tail="done")
    assert req.state == "succeeded" and req.terminal
    assert req.duration() == timedelta(minutes=1) and req.output_tail == "done"


def test_approve_after_expiry_refused():
    late = NOW + RESTART.approval_ttl
    with pytest.raises(TransitionError, match="This request expired at <!date\\^"):
        transition(pending(), "approve", "U0MANAGER", late)
    expired = transition(pending(), "expire", "system", late)
    with pytest.raises(TransitionError, match="expired"):
        transition(expired, "approve", "U0MANAGER", late)


def test_expire_not_before_time():
    with pytest.raises(TransitionError, match="not yet"):
        transition(pending(), "expire", "system", NOW)


def test_double_approve_refused_with_who():
    req = transition(pending(), "approve", "U0MANAGER", NOW)
    with pytest.raises(TransitionError, match=r"already approved by <@U0MANAGER>"):
        transition(req, "approve", "U0MANAGER", NOW)


def test_deny_then_approve_and_approve_then_deny_refused():
    denied = transition(pending(), "deny", "U0MANAGER", NOW, reason="not now")
    assert denied.state == "denied" and denied.reason == "not now"
    with pytest.raises(TransitionError, match="denied by <@U0MANAGER>"):
        transition(denied, "approve", "U0MANAGER", NOW)
    approved = transition(pending(), "approve", "U0MANAGER", NOW)
    with pytest.raises(TransitionError, match="already approved"):
        transition(approved, "deny", "U0MANAGER", NOW)


def test_transition_refuses_self_approval_even_if_caller_forgot():
    with pytest.raises(TransitionError, match="cannot approve your own"):
        transition(pending(), "approve", "U0ALICE", NOW)
    with pytest.raises(TransitionError, match="Cancel"):
        transition(pending(), "deny", "U0ALICE", NOW)


def test_cancel_pending_approved_and_running():
    assert transition(pending(), "cancel", "U0ALICE", NOW).state == "cancelled"
    running = transition(transition(pending(), "approve", "U0MANAGER", NOW), "start", "w", NOW)
    asked = transition(running, "cancel", "U0MANAGER", NOW)
    assert asked.state == "running" and asked.cancelled_by == "U0MANAGER"
    with pytest.raises(TransitionError, match="already asked"):
        transition(asked, "cancel", "U0ALICE", NOW)
    done = transition(asked, "cancelled", "w", NOW, exit_code=-15)
    with pytest.raises(TransitionError, match="nothing to cancel"):
        transition(done, "cancel", "U0ALICE", NOW)


def test_start_requires_approval_and_only_once():
    with pytest.raises(TransitionError, match="Only an approved"):
        transition(pending(), "start", "w", NOW)
    running = transition(transition(pending(), "approve", "U0MANAGER", NOW), "start", "w", NOW)
    with pytest.raises(TransitionError, match="already running"):
        transition(running, "start", "w2", NOW)


def test_finish_only_from_running_and_lost_from_approved():
    with pytest.raises(TransitionError):
        transition(pending(), "succeeded", "w", NOW)
    approved = transition(pending(), "approve", "U0MANAGER", NOW)
    assert transition(approved, "lost", "reaper", NOW).state == "lost"


def test_unknown_event_is_a_programming_error():
    with pytest.raises(ValueError):
        transition(pending(), "reopen", "U0ALICE", NOW)


def test_fingerprint_changes_with_any_param_or_requester():
    base = fingerprint("scale", {"service": "api", "replicas": "2"}, "U0ALICE")
    assert base == fingerprint("scale", {"replicas": "2", "service": "api"}, "U0ALICE")
    assert base != fingerprint("scale", {"service": "api", "replicas": "3"}, "U0ALICE")
    assert base != fingerprint("scale", {"service": "apj", "replicas": "2"}, "U0ALICE")
    assert base != fingerprint("scale", {"service": "api", "replicas": "2"}, "U0BOB")
    assert base != fingerprint("scale2", {"service": "api", "replicas": "2"}, "U0ALICE")
    assert base != fingerprint("scale", {"service": "api"}, "U0ALICE")


@pytest.mark.parametrize("tighten", [
    {"approval": "two-person"}, {"teams": ("search",)}, {"env": ("KUBECONFIG",)},
    {"workdir": "/srv/ops"},
])
def test_tightened_rules_invalidate_approved_runs(tighten):
    approved = transition(pending(), "approve", "U0MANAGER", NOW)
    assert check_runnable(approved, RESTART) == approved.argv
    with pytest.raises(TransitionError, match="rules .* changed since approval"):
        check_runnable(approved, replace(RESTART, **tighten))
    assert policy_of(replace(RESTART, **tighten)) != policy_of(RESTART)


def test_params_changed_after_approval_do_not_run():
    approved = transition(pending(), "approve", "U0MANAGER", NOW)
    tampered = replace(approved, params=(("service", "payments-worker"),))
    with pytest.raises(TransitionError, match="changed after it was approved"):
        check_runnable(tampered, RESTART)
    with pytest.raises(TransitionError, match="changed after it was approved"):
        transition(tampered, "start", "w", NOW)
    other_requester = replace(approved, requester="U0BOB")
    with pytest.raises(TransitionError):
        check_runnable(other_requester, RESTART)


def test_altered_pending_request_cannot_be_approved():
    tampered = replace(pending(), params=(("service", "payments-worker"),))
    with pytest.raises(TransitionError, match="altered"):
        transition(tampered, "approve", "U0MANAGER", NOW)


def test_command_changed_in_config_after_approval_does_not_run():
    approved = transition(pending(), "approve", "U0MANAGER", NOW)
    assert check_runnable(approved, RESTART) == approved.argv
    changed = replace(RESTART, command=("kubectl", "delete", "deployment/{service}"))
    with pytest.raises(TransitionError, match="command changed"):
        check_runnable(approved, changed)


def test_to_dict_round_trip_through_json():
    req = transition(pending(), "approve", "U0MANAGER", NOW)
    req = replace(req, extra={"channel": "C0PAYMENTS", "ts": "123.456"})
    again = RunRequest.from_json(req.to_json())
    assert again == req
    assert req.to_dict()["params"] == {"service": "payments-api"}


def test_from_dict_rejects_malformed():
    data = pending().to_dict()
    with pytest.raises(ValueError):
        RunRequest.from_dict({**data, "state": "exploded"})
    broken = dict(data)
    del broken["argv"]
    with pytest.raises(ValueError):
        RunRequest.from_dict(broken)


def test_lock_key_is_canonical_and_unambiguous():
    assert lock_key_for("scale", {"service": "api", "replicas": "2"}) == \
        lock_key_for("scale", {"replicas": "2", "service": "api"})
    assert lock_key_for("scale", {"a": "1&b=2"}) != lock_key_for("scale", {"a": "1", "b": "2"})
    assert lock_key_for("restart-api", {"service": "payments-api"}) == \
        "restart-api?service=payments-api"
    assert pending().lock_key == "restart-api?service=payments-api"
