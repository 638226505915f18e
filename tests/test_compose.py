"""docker-compose.yml and the Dockerfile stay in step with the code (no Docker needed)."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
import pytest
import typer
import yaml

from api.cli import app
from core.config import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PREFIX = "THREADLINE_"
APP_SERVICES = ("api", "worker", "migrate")
BACKING_SERVICES = ("postgres", "redis", "chroma")
URL_RE = re.compile(r"https?://[^\s'\"]+")


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    services: dict[str, dict[str, Any]] = data["services"]
    return services


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    args = shlex.split(cmd) if isinstance(cmd, str) else [str(a) for a in cmd]
    # The image's ENTRYPOINT is `threadline`; tolerate it being repeated in the command.
    return args[1:] if args[:1] == ["threadline"] else args


def _option(args: list[str], name: str) -> str:
    for i, arg in enumerate(args):
        if arg == name:
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} missing from {args}")


def _healthcheck_text(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(str(t) for t in test)


def _published_container_ports(service: dict[str, Any]) -> set[int]:
    ports: set[int] = set()
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            ports.add(int(str(entry).split("/")[0].rsplit(":", 1)[-1]))
    return ports


def _exposed_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(p).split("/")[0]) for p in service.get("expose", [])} | (
        _published_container_ports(service)
    )


def _settings_from(service: dict[str, Any]) -> Settings:
    fields: dict[str, Any] = {
        k[len(PREFIX) :].lower(): v for k, v in _env(service).items() if k.startswith(PREFIX)
    }
    return Settings(_env_file=None, **fields)  # type: ignore[call-arg]


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_services_exist(services: dict[str, dict[str, Any]]) -> None:
    assert set(APP_SERVICES + BACKING_SERVICES) <= set(services)


def test_third_party_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name in BACKING_SERVICES:
        image = services[name]["image"]
        repo, sep, tag = image.rpartition(":")
        assert sep and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest", f"{name}: image {image!r} is not pinned"
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["chroma"]["image"] == f"chromadb/chroma:{chromadb.__version__}"


def test_app_services_share_the_built_image(services: dict[str, dict[str, Any]]) -> None:
    images = {services[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1
    for name in APP_SERVICES:
        assert "build" in services[name], f"{name} is not built from the repo's Dockerfile"


def test_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if name == "migrate":
            assert "healthcheck" not in service
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert "pg_isready" in _healthcheck_text(services["postgres"])
    assert "redis-cli ping" in _healthcheck_text(services["redis"])
    chroma_check = _healthcheck_text(services["chroma"])
    assert "/api/v2/heartbeat" in chroma_check
    assert {int(p) for p in re.findall(r"/dev/tcp/[^/]+/(\d+)", chroma_check)} <= (
        _exposed_ports(services["chroma"])
    )


def test_dependencies(services: dict[str, dict[str, Any]]) -> None:
    for name in ("api", "worker"):
        deps = services[name]["depends_on"]
        for backing in BACKING_SERVICES:
            assert deps[backing]["condition"] == "service_healthy", (name, backing)
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_env_names_are_settings_fields(services: dict[str, dict[str, Any]]) -> None:
    fields = set(Settings.model_fields)
    for name, service in services.items():
        for key in _env(service):
            if key.startswith(PREFIX):
                assert key[len(PREFIX) :].lower() in fields, (
                    f"{name}: {key} is not a Settings field"
                )


def test_app_services_share_the_env(services: dict[str, dict[str, Any]]) -> None:
    api_env = _env(services["api"])
    for name in ("worker", "migrate"):
        env = _env(services[name])
        assert {k: env.get(k) for k in api_env} == api_env, name


def test_env_values_parse(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        _settings_from(services[name])
    s = _settings_from(services["api"])
    assert s.queue == "celery"
    assert s.data_dir == Path("/data")
    assert s.database_url is not None
    assert s.database_url.startswith("postgresql+psycopg://")
    db = urlparse(s.database_url)
    assert db.hostname == "postgres"
    postgres_env = _env(services["postgres"])
    assert db.username == postgres_env["POSTGRES_USER"]
    assert db.password == postgres_env["POSTGRES_PASSWORD"]
    assert db.path.lstrip("/") == postgres_env["POSTGRES_DB"]
    assert urlparse(s.redis_url).hostname == "redis"
    assert s.chroma_url is not None
    chroma = urlparse(s.chroma_url)
    assert chroma.hostname == "chroma"
    assert chroma.port in _exposed_ports(services["chroma"])


def test_api_port_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    api = services["api"]
    port = int(_option(_command(api), "--port"))
    assert _option(_command(api), "--host") == "0.0.0.0"
    assert port in _published_container_ports(api)
    urls = [urlparse(u) for u in URL_RE.findall(_healthcheck_text(api))]
    assert any(u.path == "/healthz" and u.port == port for u in urls), urls


def test_worker_healthcheck_probes_its_metrics_port(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    port = _settings_from(worker).worker_metrics_port
    assert port
    urls = [urlparse(u) for u in URL_RE.findall(_healthcheck_text(worker))]
    assert any(u.port == port for u in urls), urls


def test_commands_exist(services: dict[str, dict[str, Any]]) -> None:
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    for name in APP_SERVICES:
        args = _command(services[name])
        assert args and args[0] == name
        assert args[0] in commands, f"{name}: `threadline {args[0]}` is not a CLI command"
    default_cmd = json.loads(dict(_dockerfile_instructions())["CMD"])
    assert default_cmd[0] in commands


def test_dockerfile() -> None:
    instructions = _dockerfile_instructions()
    runs = [rest for kw, rest in instructions if kw == "RUN"]
    torch_runs = [r for r in runs if "torch==2.13.0" in r]
    assert torch_runs and "download.pytorch.org/whl/cpu" in torch_runs[0]
    assert any(re.search(r"pip install (\S+ )*\.(\s|$)", r) for r in runs)
    entrypoint = [json.loads(rest) for kw, rest in instructions if kw == "ENTRYPOINT"]
    assert entrypoint == [["threadline"]]
    users = [rest for kw, rest in instructions if kw == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(kw == "ENV" and "THREADLINE_DATA_DIR=/data" in rest for kw, rest in instructions)


def test_dockerfile_copies_existing_sources_and_every_package() -> None:
    copied: set[str] = set()
    for kw, rest in _dockerfile_instructions():
        if kw not in ("COPY", "ADD"):
            continue
        parts = [p for p in shlex.split(rest) if not p.startswith("--")]
        for src in parts[:-1]:
            assert (ROOT / src).exists(), f"COPY source {src} does not exist"
            copied.add(src.strip("/"))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["readme"] in copied
    assert "pyproject.toml" in copied
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        if (ROOT / package).is_dir():
            assert package in copied, f"package {package}/ exists but is not copied"


def test_dockerignore_keeps_local_state_out() -> None:
    ignored = {
        line.strip().strip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", "var", ".env"} <= ignored


def test_api_and_worker_share_the_data_dir(services: dict[str, dict[str, Any]]) -> None:
    """Models trained by a worker (or the CLI) live under <data_dir>/models: one volume."""
    data_dir = str(_settings_from(services["api"]).data_dir)
    mounts = {
        name: {v.split(":")[1]: v.split(":")[0] for v in services[name].get("volumes", [])}
        for name in ("api", "worker")
    }
    assert mounts["api"].get(data_dir) is not None
    assert mounts["api"][data_dir] == mounts["worker"].get(data_dir)
