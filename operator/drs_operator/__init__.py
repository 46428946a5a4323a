"""drs-operator: Huawei Cloud DRS replication tasks as Kubernetes DrsJob resources."""

__version__ = "0.1.0"

GROUP = "drs.operators.dev"
VERSION = "v1alpha1"
PLURAL = "drsjobs"
KIND = "DrsJob"
