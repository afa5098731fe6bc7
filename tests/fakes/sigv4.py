"""Check AWS Signature Version 4 on a received request, recomputing it with botocore.

The fake knows one credential pair (`TEST_ACCESS_KEY_ID` / `TEST_SECRET_ACCESS_KEY`); a
request signed with it for service `bedrock` verifies, anything else is refused with the
error code and message AWS uses.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

TEST_ACCESS_KEY_ID = "AKIAFAKEBEDROCK00001"
TEST_SECRET_ACCESS_KEY = "fake/secret/key/for/the/bedrock/fake/000"
TEST_REGION = "us-east-1"
SERVICE = "bedrock"

_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/"
    r"(?P<service>[^/,\s]+)/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;\-]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)


class SignatureRejected(Exception):
    """Why AWS would refuse the request: status, `x-amzn-ErrorType` code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def verify(method: str, url: str, headers: Mapping[str, str], body: bytes) -> None:
    """Raise `SignatureRejected` unless `headers["authorization"]` is a valid SigV4 signature.

    `url` must be the URL as sent (path percent-escapes kept); `headers` lower-cased.
    """
    authorization = headers.get("authorization", "")
    if not authorization:
        raise SignatureRejected(
            403, "MissingAuthenticationTokenException", "Missing Authentication Token"
        )
    match = _AUTH.match(authorization)
    if match is None:
        raise SignatureRejected(
            400,
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'Signature' and "
            f"'SignedHeaders' parameters. Authorization={authorization}",
        )
    amz_date = headers.get("x-amz-date", "")
    if match["service"] != SERVICE:
        raise SignatureRejected(
            403,
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{SERVICE}'. ",
        )
    if not amz_date.startswith(match["date"]):
        raise SignatureRejected(
            403,
            "InvalidSignatureException",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
            "of date from HTTP",
        )
    if match["key"] != TEST_ACCESS_KEY_ID:
        raise SignatureRejected(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    claimed = headers.get("x-amz-content-sha256")
    if claimed not in (None, "UNSIGNED-PAYLOAD") and claimed != hashlib.sha256(body).hexdigest():
        raise SignatureRejected(
            400,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    expected = _signature(
        method, url, headers, body, match["signed"].split(";"), amz_date, match["region"]
    )
    if not hmac.compare_digest(expected, match["signature"]):
        raise SignatureRejected(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you "
            "provided. Check your AWS Secret Access Key and signing method. Consult "
            "the service documentation for details.",
        )


def _signature(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    signed: list[str],
    amz_date: str,
    region: str,
) -> str:
    missing = [name for name in signed if name not in headers]
    if missing or "host" not in signed:
        return ""
    request = AWSRequest(
        method=method, url=url, data=body, headers={name: headers[name] for name in signed}
    )
    request.context["timestamp"] = amz_date
    auth = SigV4Auth(Credentials(TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY), SERVICE, region)
    canonical = auth.canonical_request(request)
    return str(auth.signature(auth.string_to_sign(request, canonical), request))
