"""Reading one cluster's Flux objects over the network: the I/O half of `fluxfleet status`.

The connection is the one `pulumi up` makes (builders/eks.py, stack/aws_account.py): the
cluster's account and region, `spec.aws.roleArn` assumed when set (session name flux-fleet),
the endpoint and CA from EKS DescribeCluster, and a token made as `aws eks get-token` makes it: a
presigned STS GetCallerIdentity URL with the signed header `x-k8s-aws-id: <EKS cluster name>`,
base64url, prefixed `k8s-aws-v1.` (aws-cli awscli/customizations/eks/get_token.py). botocore
signs; nothing here writes SigV4 by hand. The Kubernetes API is read with urllib3 (already a
runtime dependency through pulumi's requests): three GETs, JSON, no client library to install
(docs/design/status.md says why). Every trouble of one cluster ends as its row's reason; the
token and the credentials are never in one.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import botocore.session
import urllib3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from components.names import FLUX_NAMESPACE, PROJECT
from components.tools.status import Malformed, Observed, Row, Target, summarise, unreachable

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
TOKEN_SECONDS = 60  # what aws eks get-token presigns for: a token lives 15 minutes from signing

FLUX_REPORT = f"/apis/fluxcd.controlplane.io/v1/namespaces/{FLUX_NAMESPACE}/fluxreports/flux"
KUSTOMIZATIONS = "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations"
HELM_RELEASES = "/apis/helm.toolkit.fluxcd.io/v2/helmreleases"
PAGE = 500  # objects per list request (a cluster with thousands of Kustomizations pages)
MAX_BODY = 64 * 1024 * 1024  # a larger answer is no Flux list: refused, not held in memory


class Unreachable(Exception):
    """Why a cluster could not be read: its row's reason (never a secret)."""


class NotFound(Exception):
    """404: the object (or its API) is not there."""


# --- AWS: the connection and the token ---------------------------------------------------------


@dataclass(frozen=True)
class Connection:
    endpoint: str
    ca_pem: str
    token: str


class Aws:
    """botocore clients per (service, region, role), made once and shared: clients are
    thread-safe, a botocore Session is not, so clients are made under a lock; a role is assumed
    once per region, under its own lock (its network round trip does not hold the others)."""

    def __init__(self, timeout: float, session: Any = None) -> None:
        self._session = session or botocore.session.get_session()
        self._config = Config(
            connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2}
        )
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str, str | None], Any] = {}
        self._role_locks: dict[tuple[str, str], threading.Lock] = {}
        self._credentials: dict[tuple[str, str], dict[str, str]] = {}
        self._endpoints: dict[str, tuple[str, str]] = {}  # cluster -> (endpoint, CA PEM)

    def _client(self, service: str, region: str, credentials: dict[str, str] | None) -> Any:
        with self._lock:
            return self._session.create_client(
                service, region_name=region, config=self._config, **(credentials or {})
            )

    def _role(self, region: str, role_arn: str) -> dict[str, str]:
        key = (region, role_arn)
        with self._lock:
            lock = self._role_locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._credentials:
                sts = self.client("sts", region, None)
                found = sts.assume_role(RoleArn=role_arn, RoleSessionName=PROJECT)["Credentials"]
                self._credentials[key] = {
                    "aws_access_key_id": found["AccessKeyId"],
                    "aws_secret_access_key": found["SecretAccessKey"],
                    "aws_session_token": found["SessionToken"],
                }
            return self._credentials[key]

    def client(self, service: str, region: str, role_arn: str | None) -> Any:
        key = (service, region, role_arn)
        if key not in self._clients:
            credentials = self._role(region, role_arn) if role_arn else None
            client = self._client(service, region, credentials)
            if service == "sts":
                _sign_cluster_id(client)
            self._clients.setdefault(key, client)
        return self._clients[key]

    def connection(self, t: Target) -> Connection:
        """The endpoint, CA and a fresh token of `t`'s EKS cluster, as `pulumi up` reaches it
        (the endpoint and CA asked once: `status --wait` reads a cluster again and again)."""
        if t.name not in self._endpoints:
            self._endpoints[t.name] = self._endpoint(t)
        endpoint, ca = self._endpoints[t.name]
        return Connection(endpoint, ca, self.token(t))

    def _endpoint(self, t: Target) -> tuple[str, str]:
        eks = self.client("eks", t.region, t.role_arn)
        cluster = eks.describe_cluster(name=t.eks_cluster_name)["cluster"]
        account = str(cluster.get("arn", "")).split(":")[4:5]
        if account and account[0] != t.account_id:
            raise Unreachable(
                f"EKS cluster {t.eks_cluster_name} is in account {account[0]}, the definition "
                f"says {t.account_id}"
            )
        endpoint = cluster.get("endpoint")
        ca = (cluster.get("certificateAuthority") or {}).get("data")
        if not endpoint or not ca:
            raise Unreachable(
                f"EKS cluster {t.eks_cluster_name} has no endpoint yet (status "
                f"{cluster.get('status', 'unknown')})"
            )
        return endpoint, base64.b64decode(ca).decode()

    def token(self, t: Target) -> str:
        sts = self.client("sts", t.region, t.role_arn)
        return eks_token(sts, t.eks_cluster_name)


def eks_token(sts: Any, eks_cluster_name: str) -> str:
    """A bearer token for `eks_cluster_name`, as `aws eks get-token` makes it."""
    url = sts.generate_presigned_url(
        "get_caller_identity",
        Params={CLUSTER_ID_HEADER: eks_cluster_name},
        ExpiresIn=TOKEN_SECONDS,
        HttpMethod="GET",
    )
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def _sign_cluster_id(sts: Any) -> None:
    """GetCallerIdentity takes no x-k8s-aws-id parameter: it is moved from the parameters to the
    request context, then into a header before signing, so the signature covers it."""

    def keep(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if CLUSTER_ID_HEADER in params:
            context[CLUSTER_ID_HEADER] = params.pop(CLUSTER_ID_HEADER)

    def add(request: Any, **_: Any) -> None:
        if CLUSTER_ID_HEADER in request.context:
            request.headers[CLUSTER_ID_HEADER] = request.context[CLUSTER_ID_HEADER]

    sts.meta.events.register("provide-client-params.sts.GetCallerIdentity", keep)
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", add)


# --- Kubernetes: three GETs -------------------------------------------------------------------


class Kube:
    """GETs of JSON from one API server, within one deadline for the whole cluster."""

    def __init__(self, connection: Connection, deadline: float) -> None:
        url = urlsplit(connection.endpoint)
        if url.scheme != "https" or not url.hostname:
            raise Unreachable("the EKS endpoint is not an https URL")
        # the cluster's CA alone (not the system's: no public CA may vouch for an API server);
        # also 10x cheaper than create_default_context, which loads every system CA
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cadata=connection.ca_pem)
        self._prefix = url.path.rstrip("/")
        self._deadline = deadline
        self._headers = {
            "Authorization": f"Bearer {connection.token}",
            "Accept": "application/json",
            "User-Agent": f"{PROJECT}-status",
        }
        self._pool = urllib3.HTTPSConnectionPool(
            url.hostname, url.port or 443, ssl_context=context, maxsize=1, retries=False
        )

    def close(self) -> None:
        self._pool.close()

    def get(self, path: str) -> Any:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        try:
            response = self._pool.request(
                "GET",
                self._prefix + path,
                headers=self._headers,
                timeout=urllib3.Timeout(connect=left, read=left),
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise Unreachable(_network_reason(exc)) from None
        try:
            return _json(response, path)
        finally:
            response.release_conn()

    def items(self, path: str) -> list[Any]:
        """Every object of a list, page by page; [] when the API is not served (a controller,
        such as helm-controller, not installed)."""
        items: list[Any] = []
        token = ""
        while True:
            query = {"limit": PAGE, **({"continue": token} if token else {})}
            try:
                page = self.get(f"{path}?{urlencode(query)}")
            except NotFound:
                return items
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise Malformed(f"{path}: expected a list with items")
            items += page["items"]
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return items


def _json(response: Any, path: str) -> Any:
    status = response.status
    if status == 404:
        raise NotFound(path)
    if status == 401:
        raise Unreachable("401 unauthorized: the cluster refused the token")
    if status == 403:
        raise Unreachable(f"403 forbidden: the role may not read {path.split('?')[0]}")
    if status != 200:
        raise Unreachable(f"HTTP {status} from {path.split('?')[0]}")
    try:
        body = response.read(MAX_BODY + 1, decode_content=True)
    except urllib3.exceptions.HTTPError as exc:
        raise Unreachable(_network_reason(exc)) from None
    if len(body) > MAX_BODY:
        raise Malformed(f"{path.split('?')[0]}: answer over {MAX_BODY} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise Malformed(f"{path.split('?')[0]}: not JSON") from None


def _network_reason(exc: Exception) -> str:
    # NewConnectionError is a ConnectTimeoutError to urllib3 (history): asked first
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return f"unreachable: {_cause(exc)}"
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "timed out"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return "TLS failed: the API server's certificate is not the cluster's CA"
    return f"unreachable: {type(exc).__name__}"


def _cause(exc: Exception) -> str:
    """connection refused, name not known...: the OS's words, without the URL."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        cause = cause.__cause__ or cause.__context__
    return "connection failed"


# --- one cluster ---------------------------------------------------------------------------------


def read_cluster(t: Target, aws: Aws, timeout: float, expected_revision: str | None = None) -> Row:
    """`t`'s row, every failure as the reason: the AWS calls each within `timeout` seconds
    (botocore's), then the API server's answers within `timeout` seconds in all."""
    try:
        connection = aws.connection(t)
        kube = Kube(connection, time.monotonic() + timeout)
    except Unreachable as exc:
        return unreachable(t, str(exc))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return unreachable(t, f"AWS {exc.operation_name}: {error.get('Code', 'error')}")
    except BotoCoreError as exc:
        return unreachable(t, f"AWS: {type(exc).__name__}")
    except (ValueError, ssl.SSLError):
        return unreachable(t, "the EKS cluster's CA is not a PEM certificate")
    try:
        try:
            report = kube.get(FLUX_REPORT)
        except NotFound:
            return unreachable(t, "no FluxReport flux-system/flux (is flux-operator installed?)")
        observed = Observed(report, kube.items(KUSTOMIZATIONS), kube.items(HELM_RELEASES))
        return summarise(t, observed, expected_revision)
    except TimeoutError:
        return unreachable(t, f"timed out after {timeout:g}s")
    except Unreachable as exc:
        return unreachable(
            t, f"timed out after {timeout:g}s" if str(exc) == "timed out" else str(exc)
        )
    except Malformed as exc:
        return unreachable(t, f"malformed answer: {exc}")
    finally:
        kube.close()


def reader(
    timeout: float, expected_revision: str | None = None, aws: Aws | None = None
) -> Callable[[Target], Row]:
    """The function `status.collect` reads each cluster with (one Aws for the whole pass)."""
    shared = aws or Aws(timeout)
    return lambda t: read_cluster(t, shared, timeout, expected_revision)
