"""Settings of leader election and sharding: flags, environment, defaults and refusals.

``--leader-election`` (off by default for ``run``; the chart turns it on),
``--lease-name``, ``--lease-namespace``, ``--selector`` and the three
durations (client-go's defaults 15 s / 10 s / 2 s, and client-go's rules
between them); the selector reaches kopf's server-side label selector of
DrsJobs, and of no other resource.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

import kopf
import pytest
from kopf._cogs.structs import references

from drs_operator import GROUP, KIND, PLURAL, VERSION
from drs_operator.engine import settings
from drs_operator.handlers import configure_kopf, watch_only


def parse(argv: list[str], env: Mapping[str, str] | None = None) -> settings.Settings:
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser)
    return settings.from_sources(parser.parse_args(argv), env or {})


def test_defaults_are_client_go_s_and_election_is_off() -> None:
    election = parse([]).election
    assert election == settings.ElectionSettings()
    assert (election.enabled, election.lease_name, election.lease_namespace) == (
        False, "drs-operator", None,
    )  # fmt: skip
    assert (election.lease_duration, election.renew_deadline, election.retry_period) == (15, 10, 2)
    assert parse([]).watching.selector == ""


def test_flags() -> None:
    parsed = parse([
        "--leader-election", "--lease-name", "drs-shard-a", "--lease-namespace", "ops",
        "--lease-duration", "30s", "--renew-deadline", "20s", "--retry-period", "4s",
        "--selector", "drs.operators.dev/shard in ( a )",
    ])  # fmt: skip
    assert parsed.election == settings.ElectionSettings(
        enabled=True, lease_name="drs-shard-a", lease_namespace="ops",
        lease_duration=30, renew_deadline=20, retry_period=4,
    )  # fmt: skip
    assert parsed.watching.selector == "drs.operators.dev/shard in (a)", "canonical"


def test_environment_and_flags_win_over_it() -> None:
    env = {
        "DRS_OPERATOR_LEADER_ELECTION": "true",
        "DRS_OPERATOR_LEASE_NAME": "from-env",
        "DRS_OPERATOR_LEASE_NAMESPACE": "ops",
        "DRS_OPERATOR_SELECTOR": "!drs.operators.dev/shard",
        "DRS_OPERATOR_LEASE_DURATION": "20s",
    }
    parsed = parse([], env)
    assert parsed.election.enabled and parsed.election.lease_name == "from-env"
    assert parsed.election.lease_duration == 20
    assert parsed.watching.selector == "!drs.operators.dev/shard"
    overridden = parse(["--no-leader-election", "--lease-name", "from-flag"], env)
    assert not overridden.election.enabled
    assert overridden.election.lease_name == "from-flag"
    assert not parse([], {"DRS_OPERATOR_LEADER_ELECTION": "false"}).election.enabled


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--renew-deadline", "15s"], {}, "--renew-deadline must be below --lease-duration"),
        (["--retry-period", "9s"], {}, "--renew-deadline must be above 1.2 x --retry-period"),
        (["--lease-duration", "500ms", "--renew-deadline", "400ms", "--retry-period", "100ms"], {},
         "at least 1s"),
        (["--selector", "drs.operators.dev/shard in ()"], {}, "--selector: not a label selector"),
        ([], {"DRS_OPERATOR_SELECTOR": "a b"}, "DRS_OPERATOR_SELECTOR: not a label selector"),
        (["--lease-name", "Not_A_Name"], {}, "--lease-name: not a valid Kubernetes name"),
        (["--lease-namespace", "a.b"], {}, "--lease-namespace: not a valid namespace"),
        ([], {"DRS_OPERATOR_LEADER_ELECTION": "maybe"}, "DRS_OPERATOR_LEADER_ELECTION"),
        # the same rules as the above (one parser each); before: junk meant false, a.b passed
        ([], {"DRS_OPERATOR_ALL_NAMESPACES": "maybe"}, "DRS_OPERATOR_ALL_NAMESPACES"),
        (["-n", "a.b"], {}, "--namespace: not a valid namespace name"),
    ],
)  # fmt: skip
def test_refusals_name_the_setting(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(settings.SettingsError) as caught:
        parse(argv, env)
    assert message in str(caught.value)


def _resource(group: str, version: str, plural: str, kind: str) -> references.Resource:
    return references.Resource(
        group=group, version=version, plural=plural, kind=kind, namespaced=True
    )


def test_the_selector_becomes_kopf_s_label_selector_of_drsjobs_only() -> None:
    kopf_settings = kopf.OperatorSettings()
    configure_kopf(kopf_settings)
    watch_only(kopf_settings, "drs.operators.dev/shard in (a)")
    drsjobs = _resource(GROUP, VERSION, PLURAL, KIND)
    secrets = _resource("", "v1", "secrets", "Secret")
    assert kopf_settings.watching.label_selectors.collect(drsjobs) == [
        "drs.operators.dev/shard in (a)"
    ]
    assert kopf_settings.watching.label_selectors.collect(secrets) == []

    everything = kopf.OperatorSettings()
    watch_only(everything, "")
    assert everything.watching.label_selectors.collect(drsjobs) == []
