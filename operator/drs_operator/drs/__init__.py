"""The DRS client package: typed models, errors, auth and the HTTP client.

This init imports nothing, so ``drs_operator.drs.models`` and
``drs_operator.drs.errors`` stay importable without any I/O library.
"""
