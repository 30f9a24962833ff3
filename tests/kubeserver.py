"""A local HTTPS server standing in for AWS and for every cluster's Kubernetes API, for
`fluxfleet status` (tests/test_status.py, benchmarks/status_bench.py).

One server, one CA made for it (openssl, in a temporary folder), answering:
- EKS DescribeCluster (`GET /clusters/NAME`): the endpoint `https://127.0.0.1:PORT/k8s/NAME`
  and the CA; the cluster's account in its ARN;
- STS AssumeRole (`POST /`): temporary credentials (the roles assumed are recorded);
- the three Kubernetes paths status reads, under `/k8s/NAME`, from the recorded objects in
  tests/status_objects/ changed by the cluster's scenario; each request's bearer token is
  checked to be what `aws eks get-token` makes (`k8s-aws-v1.` + base64url of a presigned STS
  GetCallerIdentity URL signing `x-k8s-aws-id`): any other is 401.

The client points botocore at it with the standard variables (AWS_ENDPOINT_URL_EKS,
AWS_ENDPOINT_URL_STS, AWS_CA_BUNDLE): the code path under test is the real one.

As a script (the benchmark runs it in its own process): `python tests/kubeserver.py WORLD.json`
prints `PORT CA_FILE` on its first line and serves until killed.
"""

from __future__ import annotations

import base64
import functools
import json
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

OBJECTS = Path(__file__).resolve().parent / "status_objects"
REVISION = "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"  # the commit the healthy clusters applied
SCENARIOS = (
    "healthy",
    "degraded",  # a controller not ready, a Kustomization and a HelmRelease failing
    "old-version",  # Flux v2.8.3 running, the definition declares 2.9.x
    "stale",  # healthy, but its sync applied an older commit
    "no-report",  # no FluxReport (404)
    "forbidden",  # 403 on every Kubernetes path
    "timeout",  # answers after SLOW seconds
    "refused",  # its endpoint is a port nobody listens on
    "malformed",  # the FluxReport is not JSON
)
SLOW = 5.0
OLD_REVISION = "0123456789abcdef0123456789abcdef01234567"


@dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path
    key: Path


def make_tls(folder: Path) -> Tls:
    """A CA and a certificate for 127.0.0.1 signed by it (EC P-256, valid two days)."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=status-test-ca", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    sign = ["-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2"]
    openssl("x509", "-req", "-in", "server.csr", *sign, "-out", "server.pem", "-extfile", "ext.cnf")
    return Tls(folder / "ca.pem", folder / "server.pem", folder / "server.key")


@functools.cache
def _template(name: str) -> str:
    """A recorded object as JSON text, CLUSTER and REVISION still to fill (read once: the
    benchmark's server answers thousands of requests)."""
    return json.dumps(yaml.safe_load((OBJECTS / name).read_text()))


def _recorded(name: str, cluster: str, revision: str) -> Any:
    return json.loads(_template(name).replace("CLUSTER", cluster).replace("REVISION", revision))


def _not_ready(obj: dict[str, Any], message: str) -> None:
    for cond in obj["status"]["conditions"]:
        if cond["type"] == "Ready":
            cond.update(status="False", reason="ReconciliationFailed", message=message)


def objects(scenario: str, cluster: str, applied: str = REVISION) -> tuple[Any, Any, Any]:
    """(FluxReport, KustomizationList, HelmReleaseList) of a cluster in `scenario` whose sync
    applied commit `applied` (an older one when stale)."""
    revision = OLD_REVISION if scenario == "stale" else applied
    report = _recorded("fluxreport.yaml", cluster, revision)
    kustomizations = _recorded("kustomizations.yaml", cluster, revision)
    helm_releases = _recorded("helmreleases.yaml", cluster, revision)
    if scenario == "degraded":
        component = report["spec"]["components"][0]
        component.update(
            ready=False, status="InProgress Deployment does not have minimum availability"
        )
        _not_ready(kustomizations["items"][1], "Deployment/payments/api dry-run failed: forbidden")
        _not_ready(
            helm_releases["items"][0], "Helm upgrade failed: timed out waiting for the condition"
        )
        report["spec"]["reconcilers"][0]["stats"]["failing"] = 1
        report["spec"]["reconcilers"][1]["stats"]["failing"] = 1
    if scenario == "old-version":
        report["spec"]["distribution"]["version"] = "v2.8.3"
    return report, kustomizations, helm_releases


def token_problem(header: str | None) -> str | None:
    """What is wrong with an Authorization header, measured against `aws eks get-token`'s."""
    prefix = "Bearer k8s-aws-v1."
    if not header or not header.startswith(prefix):
        return "no k8s-aws-v1. bearer token"
    encoded = header[len(prefix) :]
    if "=" in encoded:
        return "padded base64"
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except ValueError:
        return "not base64url"
    parts = urlsplit(url)
    query = {k.lower(): v[0] for k, v in parse_qs(parts.query).items()}
    if parts.scheme != "https" or query.get("action") != "GetCallerIdentity":
        return "not a GetCallerIdentity URL"
    signed = query.get("x-amz-signedheaders", "").split(";")
    if query.get("x-amz-algorithm") != "AWS4-HMAC-SHA256" or "x-k8s-aws-id" not in signed:
        return "not signed with x-k8s-aws-id"
    if len(query.get("x-amz-signature", "")) != 64 or query.get("x-amz-expires") != "60":
        return "no signature, or not valid for 60 seconds"
    return None


@dataclass
class World:
    """The clusters the server answers for: EKS name -> (account, scenario)."""

    clusters: dict[str, tuple[str, str]]
    latency: float = 0.0
    revision: str = REVISION  # the commit the clusters' syncs applied
    refused_port: int = 0
    requests: list[str] = field(default_factory=list)
    roles: list[tuple[str, str]] = field(default_factory=list)  # (role ARN, session name)
    tokens: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(world: World, port: int, ca_pem: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms ACK stall

        def log_message(self, *_: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(doc).encode(), headers)

        def do_POST(self) -> None:  # STS AssumeRole
            time.sleep(world.latency)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            form = {k: v[0] for k, v in parse_qs(body).items()}
            if form.get("Action") != "AssumeRole":
                self._send(400, b"unexpected STS action")
                return
            with world.lock:
                world.roles.append((form["RoleArn"], form["RoleSessionName"]))
            xml = (
                '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                "<AssumeRoleResult><Credentials><AccessKeyId>ASIASTATUSTEST</AccessKeyId>"
                "<SecretAccessKey>assumed-secret</SecretAccessKey>"
                "<SessionToken>assumed-session-token</SessionToken>"
                "<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>"
                f"<AssumedRoleUser><AssumedRoleId>AROA:{form['RoleSessionName']}</AssumedRoleId>"
                f"<Arn>{form['RoleArn']}</Arn></AssumedRoleUser></AssumeRoleResult>"
                "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
                "</AssumeRoleResponse>"
            )
            self._send(200, xml.encode(), {"Content-Type": "text/xml"})

        def do_GET(self) -> None:
            time.sleep(world.latency)
            path = urlsplit(self.path).path
            with world.lock:
                world.requests.append(path)
            if path.startswith("/clusters/"):
                self._describe(path.removeprefix("/clusters/"))
            elif path.startswith("/k8s/"):
                name, _, api = path.removeprefix("/k8s/").partition("/")
                self._kube(name, "/" + api)
            else:
                self._send(404, b"{}")

        def _describe(self, name: str) -> None:
            if name not in world.clusters:
                error = {"message": f"No cluster found for name: {name}."}
                self._json(404, error, {"x-amzn-ErrorType": "ResourceNotFoundException"})
                return
            account, scenario = world.clusters[name]
            at = world.refused_port if scenario == "refused" else port
            cluster = {
                "name": name,
                "arn": f"arn:aws:eks:eu-west-1:{account}:cluster/{name}",
                "endpoint": f"https://127.0.0.1:{at}/k8s/{name}",
                "certificateAuthority": {"data": base64.b64encode(ca_pem.encode()).decode()},
                "status": "ACTIVE",
            }
            self._json(200, {"cluster": cluster})

        def _kube(self, name: str, api: str) -> None:
            problem = token_problem(self.headers.get("Authorization"))
            if problem is not None:
                self._json(401, {"kind": "Status", "code": 401, "message": problem})
                return
            with world.lock:
                world.tokens += 1
            scenario = world.clusters[name][1]
            if scenario == "timeout":
                time.sleep(SLOW)
            if scenario == "forbidden":
                self._json(403, {"kind": "Status", "code": 403, "reason": "Forbidden"})
                return
            report, kustomizations, helm_releases = objects(scenario, name, world.revision)
            if api.endswith("/fluxreports/flux"):
                if scenario == "no-report":
                    self._json(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
                elif scenario == "malformed":
                    self._send(200, b'{"apiVersion": "fluxcd.controlplane.io/v1", "spec": ')
                else:
                    self._json(200, report)
            elif api.endswith("/kustomizations"):
                self._json(200, kustomizations)
            elif api.endswith("/helmreleases"):
                self._json(200, helm_releases)
            else:
                self._json(404, {"kind": "Status", "code": 404})

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (a test's timeout, a pool closed after its last read) is no
        error of the server's; anything else is printed as usual."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(world: World, tls: Tls) -> _Server:
    """The server, answering on a thread (its port: server.server_address[1])."""
    world.refused_port = world.refused_port or closed_port()
    server = _Server(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.RequestHandlerClass = _handler(world, server.server_address[1], tls.ca.read_text())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert, tls.key)
    # the handshake in the connection's own thread, not in the accept loop
    server.socket = context.wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def client_environment(port: int, tls: Tls) -> dict[str, str]:
    """What points botocore at the server (standard AWS variables), with test credentials."""
    url = f"https://127.0.0.1:{port}"
    return {
        "AWS_ENDPOINT_URL_EKS": url,
        "AWS_ENDPOINT_URL_STS": url,
        "AWS_CA_BUNDLE": str(tls.ca),
        "AWS_ACCESS_KEY_ID": "AKIASTATUSTESTKEY000",
        "AWS_SECRET_ACCESS_KEY": "status-test-secret-access-key",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    world = World({k: (v[0], v[1]) for k, v in spec["clusters"].items()}, spec.get("latency", 0.0))
    folder = Path(tempfile.mkdtemp(prefix="kubeserver-"))
    tls = make_tls(folder)
    server = serve(world, tls)
    print(server.server_address[1], tls.ca, flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
