"""The operator's settings, as documented groups.

Every setting in :data:`OPTIONS` is a flag of ``drs-operator run`` and an
environment variable ``DRS_OPERATOR_<NAME>`` (upper case, dashes as
underscores); a flag wins over the environment, the environment over the
default. Durations are written as ``500ms``, ``30s``, ``5m``, ``1h``,
``1h30m`` (:func:`drs_operator.domain.formats.parse_duration`), or as a bare
number of seconds. A few internal tuning values have no flag: the
refresher's ``cadence.tick`` and ``cadence.lead`` and the backoff's
``factor`` (their defaults are what the benchmarks measure).

:data:`OPTIONS` is the single source: the CLI builds its flags from it (with
metavars, defaults written with their units and limits), the Helm chart and
the README document the same names; ``tests/test_help.py`` checks the limits
equal the chart schema's.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from drs_operator.domain.cadence import CadenceSettings
from drs_operator.domain.endpoint_policy import EndpointPolicy, parse_patterns
from drs_operator.domain.formats import (
    format_duration,
    is_dns1123_label,
    is_dns1123_subdomain,
    parse_duration,
)
from drs_operator.domain.selectors import parse_selector

ENV_PREFIX = "DRS_OPERATOR_"
RETRY_JITTER = 1.2  # a standby waits retry_period x [1, 1.2) between attempts (client-go's)


def parse_seconds(text: str | float | int) -> float:
    """``"30s"`` → 30.0; ``"1h30m"`` → 5400.0; a bare number is seconds."""
    if isinstance(text, int | float):
        return float(text)
    try:
        return parse_duration(text, bare_seconds=True)
    except ValueError as exc:
        raise ValueError(f"not a duration: {text!r} ({exc})") from None


@dataclass(frozen=True)
class WatchingSettings:
    """Which DrsJobs the operator watches."""

    namespaces: tuple[str, ...] = ()  # empty with clusterwide=False means the current namespace
    clusterwide: bool = False
    default_credentials: str = "drs-credentials"  # Secret name when spec.credentialsRef is unset
    # A label selector (text form, checked): only the DrsJobs it selects are watched (sharding).
    selector: str = ""


@dataclass(frozen=True)
class BatchingSettings:
    """How refreshes are grouped into batch-detail calls."""

    batch_size: int = 10  # IDs per batch-detail call (the vendor recommends at most 10)
    max_concurrency: int = 4  # batch-detail calls in flight at once, over all connections
    rate_limit: float = 5.0  # batch-detail calls per second per connection
    rate_burst: int = 5  # calls a connection may make at once before the rate applies


@dataclass(frozen=True)
class BackoffSettings:
    """How a connection slows down after throttling or service errors."""

    initial: float = 1.0
    maximum: float = 120.0
    factor: float = 2.0


@dataclass(frozen=True)
class HttpSettings:
    """The DRS and IAM HTTP clients."""

    request_timeout: float = 10.0
    ca_bundle: str | None = None  # PEM file trusted in addition to / instead of the system store
    max_body_bytes: int = 8 * 1024 * 1024
    language: str = "en-us"
    # Hosts spec.endpoint may name besides the job's own endpoint (domain.endpoint_policy).
    allowed_endpoint_hosts: EndpointPolicy = field(default_factory=EndpointPolicy.official)


@dataclass(frozen=True)
class WritingSettings:
    """The status writer."""

    write_concurrency: int = 8
    secret_cache_ttl: float = 30.0  # a rotated Secret is used within this time
    events: bool = True


@dataclass(frozen=True)
class ServingSettings:
    """Metrics, health and logs."""

    metrics_port: int = 8080  # 0 disables
    health_port: int = 8081  # 0 disables; /healthz (liveness) and /readyz (readiness)
    bind_address: str = "0.0.0.0"
    stall_after: float = 120.0  # liveness fails when the refresher made no pass for this long
    log_level: str = "info"
    log_format: str = "text"  # text | json


@dataclass(frozen=True)
class ElectionSettings:
    """Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics.

    Only the leader calls DRS and writes; it renews the Lease every
    ``retry_period`` and stops at once when it could not renew for
    ``renew_deadline``; a standby takes the Lease over ``lease_duration``
    after it last saw it change (or at once when it was released).
    """

    enabled: bool = False  # off for `run` by default; the Helm chart turns it on
    lease_name: str = "drs-operator"
    lease_namespace: str | None = None  # None: the operator's own (the pod's or context's)
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


@dataclass(frozen=True)
class Settings:
    watching: WatchingSettings = field(default_factory=WatchingSettings)
    batching: BatchingSettings = field(default_factory=BatchingSettings)
    cadence: CadenceSettings = field(default_factory=CadenceSettings)
    backoff: BackoffSettings = field(default_factory=BackoffSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    writing: WritingSettings = field(default_factory=WritingSettings)
    serving: ServingSettings = field(default_factory=ServingSettings)
    election: ElectionSettings = field(default_factory=ElectionSettings)


@dataclass(frozen=True)
class Parser:
    """Parses one setting's text; ``metavar`` names its kind; the limits (for the help text
    and the check against the chart's schema) are inclusive unless marked exclusive."""

    function: Callable[[str], Any]
    metavar: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False

    def __call__(self, text: str) -> Any:
        return self.function(text)


@dataclass(frozen=True)
class Option:
    flag: str  # without the leading dashes
    group: str
    attr: str
    parse: Parser
    help: str
    empty_allowed: bool = False  # an empty environment variable means "empty", not "unset"

    @property
    def metavar(self) -> str:
        return self.parse.metavar

    def limits(self) -> str:
        """``1-100``, ``at least 1``, ``above 0``, ``0 to below 1``... or "" (help text)."""
        p = self.parse
        low, high = p.minimum, p.maximum
        if low is not None and high is not None:
            if p.exclusive_minimum or p.exclusive_maximum:
                above = "above " if p.exclusive_minimum else ""
                below = "below " if p.exclusive_maximum else ""
                return f"{above}{low:g} to {below}{high:g}"
            return f"{low:g}-{high:g}"
        if low is not None:
            return f"above {low:g}" if p.exclusive_minimum else f"at least {low:g}"
        return ""


def _policy_text(text: str) -> EndpointPolicy:
    return EndpointPolicy(parse_patterns(text))


def _int(minimum: int, maximum: int | None = None, metavar: str = "N") -> Parser:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum or (maximum is not None and value > maximum):
            expected = (
                f"between {minimum} and {maximum}"
                if maximum is not None
                else (f"at least {minimum}")
            )
            raise ValueError(f"must be {expected}, got {value}")
        return value

    return Parser(parse, metavar, minimum, maximum)


def _positive_seconds_text(text: str) -> float:
    value = parse_seconds(text)
    if value <= 0:
        raise ValueError(f"must be positive, got {text!r}")
    return value


def _fraction_text(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise ValueError(f"must be at least 0 and below 1, got {value}")
    return value


def _positive_float_text(text: str) -> float:
    value = float(text)
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"must be a positive number, got {value}")
    return value


def _choice(*choices: str) -> Parser:
    def parse(text: str) -> str:
        if text.lower() not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {text!r}")
        return text.lower()

    return Parser(parse, "{" + ",".join(choices) + "}")


def _name_text(text: str) -> str:
    if not is_dns1123_subdomain(text):
        raise ValueError(f"not a valid Kubernetes name: {text!r}")
    return text


_DURATION = Parser(_positive_seconds_text, "DURATION")
_FRACTION = Parser(_fraction_text, "FRACTION", 0.0, 1.0, exclusive_maximum=True)
_RATE = Parser(_positive_float_text, "RATE", 0.0, exclusive_minimum=True)
_NAME = Parser(_name_text, "NAME")
_PORT = _int(0, 65535, "PORT")
_FILE = Parser(str, "FILE")
_ADDRESS = Parser(str, "ADDRESS")
_HOSTS = Parser(_policy_text, "HOSTS")
MAX_BATCH_SIZE: Final = 100  # as the chart's values.schema.json (operator.batchSize)

OPTIONS: tuple[Option, ...] = (
    Option("default-credentials", "watching", "default_credentials", _NAME,
           "Secret used when spec.credentialsRef is unset"),
    Option("batch-size", "batching", "batch_size", _int(1, MAX_BATCH_SIZE),
           "job IDs per batch-detail call (the vendor recommends at most 10)"),
    Option("max-concurrency", "batching", "max_concurrency", _int(1),
           "batch-detail calls in flight at once"),
    Option("rate-limit", "batching", "rate_limit", _RATE,
           "batch-detail calls per second per connection"),
    Option("rate-burst", "batching", "rate_burst", _int(1),
           "calls a connection may make at once before the rate applies"),
    Option("cadence-in-progress", "cadence", "in_progress", _DURATION,
           "refresh interval of in-progress tasks"),
    Option("cadence-steady", "cadence", "steady", _DURATION,
           "refresh interval of healthy steady tasks"),
    Option("cadence-failed", "cadence", "failed", _DURATION,
           "refresh interval of failed, deleted and missing tasks"),
    Option("cadence-error", "cadence", "error", _DURATION,
           "retry interval after a failed refresh"),
    Option("jitter", "cadence", "jitter", _FRACTION,
           "refreshes come up to this fraction of their interval early (never late), "
           "to spread the load"),
    Option("min-refresh-interval", "cadence", "minimum", _DURATION,
           "floor for spec.refreshInterval"),
    Option("backoff-initial", "backoff", "initial", _DURATION,
           "first pause after throttling or a service error"),
    Option("backoff-max", "backoff", "maximum", _DURATION,
           "longest pause after throttling or service errors"),
    Option("request-timeout", "http", "request_timeout", _DURATION,
           "timeout of one DRS or IAM HTTP request"),
    Option("ca-bundle", "http", "ca_bundle", _FILE,
           "PEM file of CAs to trust for DRS and IAM endpoints"),
    Option("max-body-bytes", "http", "max_body_bytes", _int(1),
           "largest DRS response body accepted, in bytes"),
    Option("allowed-endpoint-hosts", "http", "allowed_endpoint_hosts", _HOSTS,
           "hosts a DrsJob's spec.endpoint may name besides its Secret's endpoint: "
           "comma-separated [http://]HOST[:PORT] patterns, * within one label; "
           "an empty value allows none", empty_allowed=True),
    Option("write-concurrency", "writing", "write_concurrency", _int(1),
           "status patches in flight at once"),
    Option("secret-cache-ttl", "writing", "secret_cache_ttl", _DURATION,
           "how long a credentials Secret is cached"),
    Option("metrics-port", "serving", "metrics_port", _PORT,
           "Prometheus metrics port, /metrics (0 disables)"),
    Option("health-port", "serving", "health_port", _PORT,
           "liveness/readiness port: /healthz, /readyz (0 disables)"),
    Option("bind-address", "serving", "bind_address", _ADDRESS,
           "address the metrics and health servers listen on"),
    Option("stall-after", "serving", "stall_after", _DURATION,
           "liveness fails when the refresher made no pass for this long"),
    Option("log-level", "serving", "log_level", _choice("debug", "info", "warning", "error"),
           "log level; debug adds one line per DRS call"),
    Option("log-format", "serving", "log_format", _choice("text", "json"),
           "log format: text, or one JSON object per line"),
    Option("lease-duration", "election", "lease_duration", _DURATION,
           "leader election: how long a standby waits after the Lease last changed "
           "before it takes the Lease over"),
    Option("renew-deadline", "election", "renew_deadline", _DURATION,
           "leader election: the leader stops calling DRS and writing when it could "
           "not renew the Lease for this long"),
    Option("retry-period", "election", "retry_period", _DURATION,
           "leader election: how often the leader renews and a standby tries to acquire"),
)  # fmt: skip


def env_name(flag: str) -> str:
    return ENV_PREFIX + flag.upper().replace("-", "_")


def show_default(option: Option) -> str:
    """The option's default as a user would write it (durations with their unit)."""
    default = getattr(_DEFAULTS[option.group], option.attr)
    if isinstance(default, EndpointPolicy):
        return default.describe()
    if option.parse is _DURATION:
        return format_duration(float(default))
    if default is None:
        return "none"
    return f"{default:g}" if isinstance(default, float) else str(default)


WATCH_HELP: Final = (
    "With neither -n nor -A the operator watches one namespace: the current kubeconfig\n"
    "context's (in a pod: the pod's own), else 'default'; the start-up log line names it."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``-n``, ``-A`` and one flag per option to ``parser``."""
    parser.add_argument(
        "-n",
        "--namespace",
        dest="namespaces",
        action="append",
        default=None,
        metavar="NS",
        help=f"watch this namespace (repeatable; env {ENV_PREFIX}NAMESPACES, comma-separated)",
    )
    parser.add_argument(
        "-A",
        "--all-namespaces",
        dest="clusterwide",
        action="store_true",
        default=None,
        help=f"watch all namespaces (env {ENV_PREFIX}ALL_NAMESPACES=true)",
    )
    for option in OPTIONS:
        limits = option.limits()
        parser.add_argument(
            f"--{option.flag}",
            dest=option.flag.replace("-", "_"),
            default=None,
            metavar=option.metavar,
            help=f"{option.help}{f'; {limits}' if limits else ''} "
            f"(default {show_default(option)}; env {env_name(option.flag)})",
        )
    _add_placement_arguments(parser)


def _add_placement_arguments(parser: argparse.ArgumentParser) -> None:
    """Leader election on/off, its Lease, and the sharding selector."""
    parser.add_argument(
        "--leader-election",
        dest="leader_election",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="only the holder of a coordination.k8s.io/v1 Lease calls DRS and writes; "
        "others stand by (env DRS_OPERATOR_LEADER_ELECTION=true; default off, "
        "on in the Helm chart)",
    )
    parser.add_argument(
        "--lease-name",
        dest="lease_name",
        default=None,
        metavar="NAME",
        help=f"the Lease's name (env {ENV_PREFIX}LEASE_NAME; default "
        f"{ElectionSettings.lease_name})",
    )
    parser.add_argument(
        "--lease-namespace",
        dest="lease_namespace",
        default=None,
        metavar="NS",
        help=f"the Lease's namespace (env {ENV_PREFIX}LEASE_NAMESPACE; default the "
        "operator's own: the pod's, else the kubeconfig context's)",
    )
    parser.add_argument(
        "--selector",
        dest="selector",
        default=None,
        metavar="SELECTOR",
        help="watch only the DrsJobs this label selector selects (sharding), e.g. "
        f"'drs.operators.dev/shard=a' or '!drs.operators.dev/shard' (env {ENV_PREFIX}SELECTOR)",
    )


_DEFAULTS: dict[str, Any] = {
    "watching": WatchingSettings(),
    "batching": BatchingSettings(),
    "cadence": CadenceSettings(),
    "backoff": BackoffSettings(),
    "http": HttpSettings(),
    "writing": WritingSettings(),
    "serving": ServingSettings(),
    "election": ElectionSettings(),
}


class SettingsError(ValueError):
    """A flag or environment variable has a bad value; the message names it."""


def from_sources(
    args: argparse.Namespace | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Build settings from parsed flags and the environment (flags win)."""
    env = os.environ if env is None else env
    groups: dict[str, dict[str, Any]] = {name: {} for name in _DEFAULTS}
    for option in OPTIONS:
        raw: str | None = None
        source = ""
        flag_value = getattr(args, option.flag.replace("-", "_"), None) if args else None
        if flag_value is not None:
            raw, source = str(flag_value), f"--{option.flag}"
        elif env.get(env_name(option.flag)) or (
            option.empty_allowed and env_name(option.flag) in env
        ):
            raw, source = env[env_name(option.flag)], env_name(option.flag)
        if raw is None:
            continue
        try:
            groups[option.group][option.attr] = option.parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{source}: {exc}") from None

    namespaces: Sequence[str] | None = getattr(args, "namespaces", None) if args else None
    if not namespaces and env.get(f"{ENV_PREFIX}NAMESPACES"):
        namespaces = [ns.strip() for ns in env[f"{ENV_PREFIX}NAMESPACES"].split(",") if ns.strip()]
    clusterwide = getattr(args, "clusterwide", None) if args else None
    if clusterwide is None:
        clusterwide = _env_bool(env, "ALL_NAMESPACES")
    if clusterwide and namespaces:
        raise SettingsError("-A/--all-namespaces and -n/--namespace exclude each other")
    for ns in namespaces or ():
        if not is_dns1123_label(ns):
            raise SettingsError(f"--namespace: not a valid namespace name: {ns!r}")
    groups["watching"]["namespaces"] = tuple(namespaces or ())
    groups["watching"]["clusterwide"] = bool(clusterwide)

    _placement(args, env, groups)

    built = {
        name: dataclasses.replace(_DEFAULTS[name], **values) for name, values in groups.items()
    }
    settings = Settings(**built)
    if settings.backoff.maximum < settings.backoff.initial:
        raise SettingsError("--backoff-max must not be below --backoff-initial")
    _check_election(settings.election)
    return settings


def _env_bool(env: Mapping[str, str], variable: str) -> bool | None:
    """A boolean environment variable (true/false, 1/0, yes/no); None when unset or empty."""
    text = env.get(ENV_PREFIX + variable, "").strip().lower()
    if not text:
        return None
    if text not in {"1", "true", "yes", "0", "false", "no"}:
        raise SettingsError(f"{ENV_PREFIX}{variable}: must be true or false, got {text!r}")
    return text in {"1", "true", "yes"}


def _placement(
    args: argparse.Namespace | None, env: Mapping[str, str], groups: dict[str, dict[str, Any]]
) -> None:
    """Leader election, its Lease and the selector: from the flags, else the environment."""

    def given(attr: str, variable: str) -> tuple[str | None, str]:
        value = getattr(args, attr, None) if args else None
        if value is not None:
            return value, "--" + attr.replace("_", "-")
        if env.get(ENV_PREFIX + variable):
            return env[ENV_PREFIX + variable], ENV_PREFIX + variable
        return None, ""

    enabled = getattr(args, "leader_election", None) if args else None
    if enabled is None:
        enabled = _env_bool(env, "LEADER_ELECTION")
    if enabled is not None:
        groups["election"]["enabled"] = bool(enabled)
    name, source = given("lease_name", "LEASE_NAME")
    if name is not None:
        if not is_dns1123_subdomain(name):
            raise SettingsError(f"{source}: not a valid Kubernetes name: {name!r}")
        groups["election"]["lease_name"] = name
    namespace, source = given("lease_namespace", "LEASE_NAMESPACE")
    if namespace is not None:
        if not is_dns1123_label(namespace):
            raise SettingsError(f"{source}: not a valid namespace name: {namespace!r}")
        groups["election"]["lease_namespace"] = namespace
    selector, source = given("selector", "SELECTOR")
    if selector is not None:
        try:
            groups["watching"]["selector"] = str(parse_selector(selector))
        except ValueError as exc:
            raise SettingsError(f"{source}: not a label selector: {exc}") from None


def _check_election(election: ElectionSettings) -> None:
    """client-go's rules: the Lease outlives the renew deadline, which outlives a retry."""
    if election.lease_duration < 1:
        raise SettingsError("--lease-duration must be at least 1s (a Lease counts whole seconds)")
    if election.renew_deadline >= election.lease_duration:
        raise SettingsError("--renew-deadline must be below --lease-duration")
    if election.retry_period * RETRY_JITTER >= election.renew_deadline:
        raise SettingsError(
            f"--renew-deadline must be above {RETRY_JITTER:g} x --retry-period "
            "(a standby's retries are spread by up to that factor)"
        )
