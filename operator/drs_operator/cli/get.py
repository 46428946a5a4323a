"""``drs-operator get``: list DrsJobs from any cluster as ``kubectl get drsjobs`` shows them.

Connects as the operator does (:mod:`drs_operator.engine.kubeconfig`: ``--kubeconfig``,
else ``$KUBECONFIG``, else the in-cluster service account, else ``~/.kube/config``),
lists ``drsjobs.drs.operators.dev/v1alpha1`` in one namespace (``-n``; default: the
context's namespace, else ``default``) or in all (``-A``), or gets one by NAME, and
prints the printer-column table of the packaged CRD (:mod:`drs_operator.domain.printing`),
``-o wide`` adding the priority-1 columns.

Exit codes: 0 success (an empty list prints ``No resources found ...`` on stderr), 1 a
runtime or API failure (API unreachable, 401/403/404, ...), 2 bad usage or input (bad
flags, no kubeconfig or an unusable one, an unknown context); each failure is one line on
stderr, ``drs-operator get: error: ...``. Error lines carry the API's message, never
request headers or credentials.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from drs_operator import GROUP, PLURAL, VERSION
from drs_operator.domain.crd import printer_columns
from drs_operator.domain.printing import render_table
from drs_operator.engine.kubeconfig import KubeconfigError
from drs_operator.engine.kubeconfig import load as load_kubeconfig

PROG: Final = "drs-operator get"
PAGE_SIZE: Final = 500
REQUEST_TIMEOUT: Final = (5.0, 30.0)  # connect, read (seconds)
RESOURCE: Final = f"{PLURAL}.{GROUP}"


class GetError(Exception):
    """A runtime failure to report as one line (exit 1)."""


class UsageError(Exception):
    """Bad usage or input: arguments that do not go together, an unusable kubeconfig (exit 2)."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", metavar="NAME", help="one DrsJob (default: all)")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n", "--namespace", metavar="NS", help="namespace (default: the context's, or default)"
    )
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="list DrsJobs in all namespaces"
    )
    parser.add_argument(
        "-o", "--output", choices=["wide"], help="wide: add the Job ID, Type and Reason columns"
    )
    parser.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="kubeconfig file (default: $KUBECONFIG, the pod's service account, ~/.kube/config)",
    )
    parser.add_argument(
        "--context", metavar="NAME", help="kubeconfig context (default: the current one)"
    )


def execute(args: argparse.Namespace) -> int:
    try:
        if args.all_namespaces and args.name:
            raise UsageError("a resource cannot be retrieved by name across all namespaces")
        api, namespace = connect(kubeconfig=args.kubeconfig, context=args.context)
        if args.namespace:
            namespace = args.namespace
        objects = fetch(
            api,
            namespace=None if args.all_namespaces else namespace,
            name=args.name,
        )
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except GetError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    if not objects:
        where = "" if args.all_namespaces else f" in {namespace} namespace"
        print(f"No resources found{where}.", file=sys.stderr)
        return 0
    table = render_table(
        objects,
        printer_columns(),
        wide=args.output == "wide",
        with_namespace=bool(args.all_namespaces),
        now=datetime.now(UTC),
    )
    sys.stdout.write(table)
    return 0


# --- connection -------------------------------------------------------------------------------


def connect(*, kubeconfig: str | None, context: str | None) -> tuple[Any, str]:
    """A ``CustomObjectsApi`` for the chosen cluster and the default namespace."""
    from kubernetes import client

    try:
        loaded = load_kubeconfig(kubeconfig, context=context)
    except KubeconfigError as exc:
        raise UsageError(str(exc)) from None
    configuration = loaded.configuration
    configuration.retries = 0  # fail fast, as kubectl does, instead of urllib3's 3 retries
    api = client.CustomObjectsApi(client.ApiClient(configuration))
    return api, loaded.namespace


# --- requests ---------------------------------------------------------------------------------


def fetch(api: Any, *, namespace: str | None, name: str | None) -> list[dict[str, Any]]:
    """The DrsJobs to print, sorted by namespace and name (the API server's order)."""
    try:
        if name is not None:
            assert namespace is not None
            obj = api.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, _request_timeout=REQUEST_TIMEOUT
            )
            return [obj]
        items = _list_all(api, namespace=namespace)
    except Exception as exc:
        raise GetError(describe_error(exc, name=name)) from None
    return sorted(items, key=_sort_key)


def _list_all(api: Any, *, namespace: str | None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"limit": PAGE_SIZE, "_request_timeout": REQUEST_TIMEOUT}
        if token:
            kwargs["_continue"] = token
        if namespace is None:
            page = api.list_cluster_custom_object(GROUP, VERSION, PLURAL, **kwargs)
        else:
            page = api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, **kwargs)
        items.extend(item for item in page.get("items") or [] if isinstance(item, dict))
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items


def _sort_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


def _api_message(body: Any) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body:
        return ""
    try:
        parsed = json.loads(body)
    except ValueError:
        return ""
    message = parsed.get("message") if isinstance(parsed, dict) else None
    return str(message).splitlines()[0] if message else ""


def describe_error(exc: BaseException, *, name: str | None = None) -> str:
    """One line for ``exc``: the API's own message, never headers or credentials."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError as Urllib3Error
    from urllib3.exceptions import MaxRetryError

    if isinstance(exc, ApiException):
        status = exc.status
        message = _api_message(exc.body)
        if status == 404:
            if name is not None:
                return f'{RESOURCE} "{name}" not found'
            return f'the server doesn\'t have a resource type "{PLURAL}" (is the CRD installed?)'
        if status == 401:
            return "Unauthorized: the server rejected the credentials (HTTP 401)"
        if status == 403:
            return message or f"forbidden: cannot read {RESOURCE} (HTTP 403)"
        detail = message or (exc.reason or "").strip() or "no details"
        return f"the server answered HTTP {status}: {detail}"
    if isinstance(exc, MaxRetryError):
        reason = exc.reason
        text = str(reason)
        if "Failed to establish a new connection: " in text:
            text = text.split("Failed to establish a new connection: ", 1)[1]
        return f"cannot reach the Kubernetes API at {_host(exc)}: {text}"
    if isinstance(exc, Urllib3Error | OSError):
        return f"cannot reach the Kubernetes API: {type(exc).__name__}: {exc}"
    return f"unexpected failure: {type(exc).__name__}: {exc}"


def _host(exc: Any) -> str:
    pool = getattr(exc, "pool", None)
    if pool is None:
        return "the configured server"
    return f"{getattr(pool, 'scheme', 'https')}://{pool.host}:{pool.port}"
