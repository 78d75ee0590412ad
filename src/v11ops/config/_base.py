"""The strict base model and the small value types shared by the config sections."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainValidator, model_validator
from pydantic.json_schema import WithJsonSchema
from pydantic_core import PydanticCustomError

from v11ops.config._secrets import reference_kind, reference_problem
from v11ops.config._templates import check_template


class Model(BaseModel):
    """Frozen and strict (no silent `"30"` -> 30); an unknown key is an error listing the known."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = [f.alias or name for name, f in cls.model_fields.items()]
            for key in data:
                if key not in known:
                    raise PydanticCustomError(
                        "unknown_key",
                        "unknown key (expected one of: {known})",
                        {"key": key, "known": ", ".join(known)},
                    )
        return data


_HOST_PORT = re.compile(r"^(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):(?P<port>[0-9]{1,5})$")


def split_host_port(value: str) -> tuple[str, int]:
    """`127.0.0.1:8080` -> ("127.0.0.1", 8080); `[::1]:80` -> ("::1", 80)."""
    match = _HOST_PORT.fullmatch(value)
    if not match or not 0 < int(match["port"]) < 65536:
        raise ValueError(f"expected host:port such as 127.0.0.1:8080, got {value!r}")
    return match["host"].strip("[]"), int(match["port"])


def _check_host_port(value: str) -> str:
    split_host_port(value)
    return value


HostPort = Annotated[str, AfterValidator(_check_host_port)]


def _check_port(value: Any) -> int | Literal["auto"]:
    if value == "auto":
        return "auto"
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536:
        return value
    raise PydanticCustomError("port", "expected a port number (1-65535) or auto")


PortSpec = Annotated[
    int | Literal["auto"],
    PlainValidator(_check_port),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": 65535},
                {"const": "auto"},
            ]
        }
    ),
]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_env(allowed: frozenset[str]) -> Any:
    """Validator for an env mapping: valid variable names, values with known placeholders."""

    def check(env: dict[str, str]) -> dict[str, str]:
        for name, value in env.items():
            if not _ENV_NAME.fullmatch(name):
                raise PydanticCustomError(
                    "env_name",
                    "not a valid environment variable name (letters, digits and _, "
                    "not starting with a digit)",
                    {"key": name},
                )
            if reference_kind(value) is None:
                check_template(value, allowed, key=name)
            elif problem := reference_problem(value):
                raise PydanticCustomError("reference", problem, {"key": name})
        return env

    return AfterValidator(check)


def check_templates(allowed: frozenset[str]) -> Any:
    """Validator for an argv template list."""

    def check(argv: list[str]) -> list[str]:
        for i, arg in enumerate(argv):
            check_template(arg, allowed, key=i)
        return argv

    return AfterValidator(check)


def check_one_template(allowed: frozenset[str]) -> Any:
    """Validator for a single template string."""

    def check(value: str) -> str:
        return check_template(value, allowed)

    return AfterValidator(check)
