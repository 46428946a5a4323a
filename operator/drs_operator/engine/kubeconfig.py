"""Which cluster to talk to, and as whom: one choice for every Kubernetes client.

The operator's own client (:mod:`drs_operator.engine.kube`), kopf's login
(:mod:`drs_operator.handlers`) and ``drs-operator get`` all call :func:`load`,
so they always agree. The order is client-go's (and controller-runtime's):

1. an explicit kubeconfig file (``--kubeconfig``);
2. ``$KUBECONFIG``;
3. the pod's service account, when running in a cluster
   (``KUBERNETES_SERVICE_HOST`` is set);
4. ``~/.kube/config``.

The ``kubernetes`` package's loaders read the file (contexts, exec plugins,
client certificates, tokens); only its configuration object is used, never
its synchronous API client here. Errors are :class:`KubeconfigError` with
one line that names the file and the cause (never a credential). Every one
of them is an input error, so every command exits 2 on it (no kubeconfig, a
file that does not exist or is not a kubeconfig, an unknown context), with
the same line: ``drs-operator <command>: error: <message>``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = ["DEFAULT_KUBECONFIG", "KubeconfigError", "Loaded", "choose", "load"]

DEFAULT_KUBECONFIG: Final = "~/.kube/config"
SERVICEACCOUNT_NAMESPACE: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_NAMESPACE: Final = "default"


class KubeconfigError(Exception):
    """No usable cluster configuration (an input error); the message is one line, safe to print."""


@dataclass(frozen=True)
class Loaded:
    """A loaded configuration: the ``kubernetes.client.Configuration`` and where it came from."""

    configuration: Any
    namespace: str  # the context's namespace (or the pod's), else "default"
    path: str | None  # the kubeconfig file; None: the in-cluster service account


def choose(explicit: str | None = None) -> str | None:
    """The kubeconfig file to use, or None for the in-cluster service account."""
    if explicit:
        if not Path(explicit).expanduser().exists():
            raise KubeconfigError(f"kubeconfig {explicit} does not exist")
        return str(Path(explicit).expanduser())
    env = os.environ.get("KUBECONFIG", "")
    if env:
        # A list of files, as kubectl takes it; the kubernetes package merges them.
        if not any(Path(part).expanduser().exists() for part in env.split(os.pathsep) if part):
            raise KubeconfigError(f"KUBECONFIG names no existing file: {env}")
        return env
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    default = Path(DEFAULT_KUBECONFIG).expanduser()
    if default.exists():
        return str(default)
    raise KubeconfigError(
        f"no kubeconfig: pass --kubeconfig, set KUBECONFIG or create {DEFAULT_KUBECONFIG}"
        " (or run inside a cluster)"
    )


def _context_namespace(path: str, context: str | None) -> str:
    from kubernetes import config

    contexts, current = config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
    chosen = current
    if context is not None:
        chosen = next((c for c in contexts if c.get("name") == context), None)
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else DEFAULT_NAMESPACE


def load(explicit: str | None = None, *, context: str | None = None) -> Loaded:
    """Load the chosen configuration (see the module docstring for the order)."""
    import yaml
    from kubernetes import client, config

    path = choose(explicit)
    configuration = client.Configuration()
    try:
        if path is None:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            try:
                namespace = SERVICEACCOUNT_NAMESPACE.read_text().strip() or DEFAULT_NAMESPACE
            except OSError:
                namespace = DEFAULT_NAMESPACE
        else:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
            namespace = _context_namespace(path, context)
    except yaml.YAMLError:
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML") from None
    except config.ConfigException as exc:
        where = "the in-cluster service account" if path is None else path
        raise KubeconfigError(f"invalid kubeconfig {where}: {' '.join(str(exc).split())}") from None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise KubeconfigError(
            f"cannot load kubeconfig {path}: {type(exc).__name__}: {exc}"
        ) from None
    return Loaded(configuration=configuration, namespace=namespace, path=path)
