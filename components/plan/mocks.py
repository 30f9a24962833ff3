"""The mock runtime's side of the offline plan: placeholder answers for what only the cloud knows,
and a monitor that records every resource registration (inputs and options), decoded from the
wire with secrets and unknowns kept as markers."""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi.runtime import mocks as pmocks
from pulumi.runtime.proto import resource_pb2

from components.plan import iam
from components.plan.result import (
    UNKNOWN,
    Registration,
    Secret,
    provider_urn,
    unknown,
)

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
UNKNOWN_SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
PLACEHOLDER = "placeholder"


# --- wire values → python (secrets and unknowns kept as markers) ---------------------------------


def _from_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        fields = value.struct_value.fields
        sig = fields[SIG_KEY].string_value if SIG_KEY in fields else None
        if sig == SECRET_SIG:
            return Secret(_from_value(fields["value"]))
        if sig == RESOURCE_SIG:
            return fields["urn"].string_value
        return {k: _from_value(v) for k, v in sorted(fields.items())}
    if kind == "list_value":
        return [_from_value(v) for v in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() else number
    if kind == "string_value":
        return UNKNOWN if value.string_value == UNKNOWN_SENTINEL else value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None


def _alias(alias: Any) -> str:
    if alias.urn:
        return str(alias.urn)
    spec = json_format.MessageToDict(alias.spec)
    return ",".join(f"{k}={v}" for k, v in sorted(spec.items()))


def _from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return {k: _from_value(v) for k, v in sorted(struct.fields.items())}


# --- mocks --------------------------------------------------------------------------------------


def _pem(resource: str, kind: str) -> str:
    return (
        f"-----BEGIN {kind} PRIVATE KEY-----\n{unknown(resource, 'privateKey')}\n"
        f"-----END {kind} PRIVATE KEY-----\n"
    )


class PlanMocks(pmocks.Mocks):
    """Placeholder answers, clearly marked, for what only the cloud knows."""

    def __init__(self) -> None:
        self.monitor: RecordingMonitor | None = None

    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "tls:index/privateKey:PrivateKey":
            outputs.update(
                privateKeyOpenssh=_pem(args.name, "OPENSSH"),
                privateKeyPem=_pem(args.name, "EC"),
                privateKeyPemPkcs8=_pem(args.name, ""),
                publicKeyOpenssh=unknown(args.name, "publicKeyOpenssh"),
                publicKeyPem=unknown(args.name, "publicKeyPem"),
                publicKeyFingerprintSha256=unknown(args.name, "publicKeyFingerprintSha256"),
                publicKeyFingerprintMd5=unknown(args.name, "publicKeyFingerprintMd5"),
            )
        elif args.typ.startswith("aws:iam/role:Role") or args.typ == "aws:iam/policy:Policy":
            outputs.setdefault("arn", unknown(args.name, "arn"))
        return f"{args.name}-id", outputs

    def _provider_inputs(self, ref: str) -> dict[str, Any]:
        urn = provider_urn(ref)
        if self.monitor:
            for reg in self.monitor.registrations:
                if reg.urn == urn:
                    return reg.inputs
        return {}

    def call(self, args: pmocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        provider = self._provider_inputs(args.provider or "")
        region = provider.get("region", "us-east-1")
        accounts = provider.get("allowedAccountIds") or '["000000000000"]'
        account = (json.loads(accounts) if isinstance(accounts, str) else accounts)[0]
        if self.monitor:
            self.monitor.invokes.append(args.token)
        if args.token == "aws:eks/getCluster:getCluster":
            name = args.args["name"]
            return {
                "id": name,
                "name": name,
                "arn": f"arn:aws:eks:{region}:{account}:cluster/{name}",
                "endpoint": f"https://{PLACEHOLDER}-{name}.{region}.eks.amazonaws.com",
                "certificateAuthorities": [
                    {"data": base64.b64encode(f"{PLACEHOLDER} CA of {name}".encode()).decode()}
                ],
                "createdAt": f"{PLACEHOLDER}-created-at",
                "identities": [
                    {
                        "oidcs": [
                            {"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{PLACEHOLDER}"}
                        ]
                    }
                ],
                "version": PLACEHOLDER,
                "status": "ACTIVE",
            }
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": account,
                "arn": f"arn:aws:iam::{account}:user/{PLACEHOLDER}",
                "userId": PLACEHOLDER,
                "id": account,
            }
        # A credential read at apply time (credentialFrom): never a value offline, only where.
        if args.token == "aws:ssm/getParameter:getParameter":
            name = args.args["name"]
            value = f"{PLACEHOLDER} value of SSM parameter {name}"
            return {"id": name, "name": name, "arn": name, "type": "SecureString", "value": value}
        if args.token == "aws:secretsmanager/getSecretVersion:getSecretVersion":
            arn = args.args["secretId"]
            value = f"{PLACEHOLDER} value of secret {arn}"
            return {"id": arn, "arn": arn, "secretId": arn, "secretString": value}
        if args.token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            registry = args.args.get("registryId", account)
            host = f"{registry}.dkr.ecr.{args.args.get('region', region)}.amazonaws.com"
            password = f"{PLACEHOLDER} ECR token for {host}"  # a secret in the program
            token = base64.b64encode(f"AWS:{password}".encode()).decode()
            return {
                "id": registry,
                "registryId": registry,
                "authorizationToken": token,
                "userName": "AWS",
                "password": password,
                "proxyEndpoint": f"https://{host}",
                "expiresAt": f"{PLACEHOLDER}-expires-at",
            }
        if args.token == iam.TOKEN:  # computed by the provider: rendered the same way
            return iam.get_policy_document(args.args)
        raise NotImplementedError(f"the offline plan has no placeholder answer for {args.token}")


class RecordingMonitor(pmocks.MockMonitor):
    """MockMonitor that records every registration with its options and, like the engine,
    marks `additional_secret_outputs` secret."""

    def __init__(self, mocks: PlanMocks) -> None:
        super().__init__(mocks)
        mocks.monitor = self
        self.registrations: list[Registration] = []
        self.invokes: list[str] = []

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        self.registrations.append(
            Registration(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent,
                provider=request.provider,
                inputs=_from_struct(request.object),
                dependencies=sorted(set(request.dependencies)),
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                deleted_with=request.deletedWith,
                delete_before_replace=bool(request.deleteBeforeReplace),
                aliases=[_alias(a) for a in request.aliases] + list(request.aliasURNs),
                ignore_changes=list(request.ignoreChanges),
                additional_secret_outputs=list(request.additionalSecretOutputs),
                replacement_trigger=(
                    _from_value(request.replacement_trigger)
                    if request.HasField("replacement_trigger")
                    else None
                ),
            )
        )
        response = super().RegisterResource(request)
        secret_outputs = set(request.additionalSecretOutputs)
        if secret_outputs:
            for key in secret_outputs & set(response.object.fields):
                inner = struct_pb2.Value()
                inner.CopyFrom(response.object.fields[key])
                wrapped = response.object.fields[key].struct_value
                wrapped.Clear()
                wrapped.fields[SIG_KEY].string_value = SECRET_SIG
                wrapped.fields["value"].CopyFrom(inner)
        return response
