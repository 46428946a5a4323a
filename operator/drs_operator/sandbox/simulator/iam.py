"""IAM: issuing tokens (``POST /v3/auth/tokens``) and authenticating DRS requests.

:class:`IamApi` answers password logins with a token scoped to the user's
project, and checks the credentials of a batch-detail request: an
``X-Auth-Token`` (unknown, revoked, expired, another project), or an AK/SK
signature (date and clock skew, signature via
:func:`drs_operator.drs.signing.verify`, security token, ``X-Project-Id``).
"""

from __future__ import annotations

import hmac
import json
import uuid
from datetime import UTC, datetime

from aiohttp import web

from drs_operator.drs import signing
from drs_operator.sandbox.simulator.fault_injection import FaultInjection
from drs_operator.sandbox.simulator.state import TokenInfo
from drs_operator.sandbox.simulator.stats import RequestRecord
from drs_operator.sandbox.simulator.wire import (
    CODE_AUTH,
    CODE_TOKEN_EXPIRED,
    CODE_WRONG_PROJECT,
    Answer,
    dig,
    error_answer,
)

__all__ = ["IamApi"]


def _iam_error(status: int, title: str, message: str) -> web.Response:
    body = {"error": {"code": status, "message": message, "title": title}}
    return web.json_response(body, status=status)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class IamApi(FaultInjection):
    """The IAM part of :class:`Simulator`: tokens, and who may call batch-detail."""

    async def _handle_iam(self, request: web.Request) -> web.Response:
        self.stats.iam_token_requests += 1
        await self._latency()
        response = await self._issue_token(request)
        code = None if response.status < 400 else f"IAM.{response.status}"
        self.stats.record(
            RequestRecord(self._clock(), request.path, response.status, code, "none", (), None),
            batch_detail=False,
        )
        return response

    async def _issue_token(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _iam_error(400, "Bad Request", "The request body is not valid JSON.")
        auth = dig(body, "auth")
        methods = dig(auth, "identity", "methods")
        user = dig(auth, "identity", "password", "user")
        name, password = dig(user, "name"), dig(user, "password")
        domain = dig(user, "domain", "name")
        scope_id = dig(auth, "scope", "project", "id")
        scope_name = dig(auth, "scope", "project", "name")
        if not isinstance(methods, list) or "password" not in methods:
            return _iam_error(400, "Bad Request", "Only the password method is supported.")
        if not all(isinstance(v, str) and v for v in (name, password, domain)):
            return _iam_error(400, "Bad Request", "User name, password and domain are required.")
        if not (isinstance(scope_id, str) and scope_id) and not (
            isinstance(scope_name, str) and scope_name
        ):
            return _iam_error(400, "Bad Request", "A project scope (id or name) is required.")
        account = self._users.get((str(domain), str(name)))
        if account is None or not hmac.compare_digest(
            account.password.encode(), str(password).encode()
        ):
            return _iam_error(401, "Unauthorized", "The username or password is wrong.")
        if scope_id is not None and scope_id != account.project_id:
            return _iam_error(401, "Unauthorized", "The user has no access to the project.")
        if scope_id is None and scope_name != account.project_name:
            return _iam_error(401, "Unauthorized", "The user has no access to the project.")
        now = self._clock()
        token = "MII" + uuid.uuid4().hex + uuid.uuid4().hex
        self._tokens[token] = TokenInfo(account.project_id, now + self.token_ttl)
        payload = {
            "token": {
                "methods": ["password"],
                "expires_at": _iso(now + self.token_ttl),
                "issued_at": _iso(now),
                "user": {
                    "name": name,
                    "id": uuid.uuid5(uuid.NAMESPACE_OID, f"{domain}/{name}").hex,
                    "domain": {
                        "name": domain,
                        "id": uuid.uuid5(uuid.NAMESPACE_OID, str(domain)).hex,
                    },
                    "password_expires_at": "",
                },
                "project": {
                    "id": account.project_id,
                    "name": account.project_name or "",
                    "domain": {"name": domain},
                },
                "catalog": [],
                "roles": [{"name": "drs_adm", "id": "0"}],
            }
        }
        response = web.json_response(payload, status=201)
        response.headers["X-Subject-Token"] = token
        return response

    def _authenticate(
        self, request: web.Request, raw: bytes, project: str, mode: str
    ) -> Answer | None:
        if mode == "token":
            info = self._tokens.get(request.headers["X-Auth-Token"])
            if info is None or info.revoked:
                return error_answer(
                    401, CODE_AUTH, "Incorrect IAM authentication information: token invalid."
                )
            if info.expires_at is not None and self._clock() >= info.expires_at:
                return error_answer(401, CODE_TOKEN_EXPIRED, "The token must be updated.")
            if info.project_id is not None and info.project_id != project:
                return error_answer(
                    403, CODE_WRONG_PROJECT, "The project ID is invalid for this token."
                )
            return None
        if mode == "aksk":
            return self._authenticate_aksk(request, raw, project)
        return error_answer(
            401, CODE_AUTH, "Incorrect IAM authentication information: no credentials given."
        )

    def _authenticate_aksk(self, request: web.Request, raw: bytes, project: str) -> Answer | None:
        headers = request.headers
        try:
            stamp = (
                datetime.strptime(headers.get(signing.DATE_HEADER, ""), signing.SDK_DATE_FORMAT)
                .replace(tzinfo=UTC)
                .timestamp()
            )
        except ValueError:
            return error_answer(
                401, CODE_AUTH, "Incorrect IAM authentication information: bad X-Sdk-Date."
            )
        now = self._clock() + self.faults.clock_skew
        if abs(stamp - now) > self.max_skew:
            return error_answer(
                401,
                CODE_AUTH,
                "Incorrect IAM authentication information: clock skew between the request "
                "date and the server time is too large.",
            )
        path, _, query = request.raw_path.partition("?")
        access = signing.verify(
            authorization=headers["Authorization"],
            secret_key_for=self._secret_key_for,
            method=request.method,
            path=path,
            query=query,
            headers=headers,
            body=raw,
        )
        if access is None:
            return error_answer(
                401,
                CODE_AUTH,
                "Incorrect IAM authentication information: verify aksk signature fail.",
            )
        expected_token = self._access_keys[access].security_token
        if expected_token is not None and not hmac.compare_digest(
            expected_token.encode(), headers.get("X-Security-Token", "").encode()
        ):
            return error_answer(
                401, CODE_AUTH, "Incorrect IAM authentication information: bad security token."
            )
        header_project = headers.get("X-Project-Id")
        if not header_project:
            return error_answer(
                401, CODE_AUTH, "Incorrect IAM authentication information: X-Project-Id missing."
            )
        if header_project != project:
            return error_answer(
                403, CODE_WRONG_PROJECT, "X-Project-Id does not match the project ID."
            )
        return None

    def _secret_key_for(self, access_key: str) -> str | None:
        key = self._access_keys.get(access_key)
        return key.secret_key if key is not None else None
