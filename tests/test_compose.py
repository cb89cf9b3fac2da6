"""docker-compose.yml, as Docker Compose itself reads it (Debian's docker-compose 1.29).

There is no Docker engine on the test machines, so nothing is built or started: these
tests prove the file is valid Compose, and that it runs what the Procfile runs.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lbadmin.procfile import parse_procfile

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
APP_SERVICES = ("web", "worker", "poller", "beat")


def docker_compose(*args: str, compose_file: Path = COMPOSE_FILE) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("docker-compose")
    assert executable, "docker-compose is not installed (apt-get install docker-compose; see .ci/run)"
    return subprocess.run(
        [executable, "--project-directory", str(REPO), "-f", str(compose_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def yaml_to_data(text: str) -> dict:
    """Parse YAML with the PyYAML docker-compose itself runs on (it is not in our venv)."""
    executable = shutil.which("docker-compose")
    assert executable
    shebang = Path(executable).read_text(errors="replace").splitlines()[0]
    assert shebang.startswith("#!"), f"docker-compose is not a script: {shebang!r}"
    interpreter = shebang[2:].strip().split()
    converted = subprocess.run(
        [*interpreter, "-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(converted.stdout)


@pytest.fixture(scope="module")
def config() -> dict:
    """docker-compose.yml after Compose has validated, merged and normalised it."""
    result = docker_compose("config")
    assert result.returncode == 0, result.stderr
    return yaml_to_data(result.stdout)


@pytest.fixture(scope="module")
def procfile() -> dict[str, str]:
    """The Procfile as scripts/run reads it (lbadmin/procfile.py, into supervisord's configuration)."""
    return parse_procfile((REPO / "Procfile").read_text())


def test_docker_compose_accepts_the_compose_file():
    result = docker_compose("config", "-q")

    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stderr


def test_docker_compose_rejects_a_service_with_an_unknown_key(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("\n  web:\n", "\n  web:\n    no_such_compose_key: 1\n", 1))
    assert "no_such_compose_key" in broken.read_text()

    result = docker_compose("config", "-q", compose_file=broken)

    assert result.returncode != 0
    assert "no_such_compose_key" in result.stderr


def test_it_defines_web_worker_beat_redis_and_postgres(config):
    assert {"web", "worker", "poller", "beat", "redis", "postgres"} <= set(config["services"])


def test_web_publishes_port_3636(config):
    ports = config["services"]["web"]["ports"]

    assert {"published": 3636, "target": 3636} in [
        {"published": int(port["published"]), "target": int(port["target"])} for port in ports
    ]


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_processes_use_postgres_and_the_compose_redis(config, service):
    environment = config["services"][service]["environment"]

    assert environment["DATABASE_URL"] == "postgres://lbadmin:lbadmin@postgres:5432/lbadmin"
    assert environment["REDIS_URL"] == "redis://redis:6379/0"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_processes_run_the_same_command_as_the_procfile(config, procfile, service):
    command = config["services"][service]["command"]

    # Compose keeps `$$` (its escape for a literal `$`) in its normalised output.
    assert [part.replace("$$", "$") for part in command] == ["sh", "-c", procfile[service]]


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_processes_start_after_the_migrations_ran(config, service):
    depends_on = config["services"][service]["depends_on"]

    assert depends_on["migrate"]["condition"] == "service_completed_successfully"
    assert "migrate" in config["services"]["migrate"]["command"][-1]


def test_migrate_waits_for_a_healthy_postgres(config):
    assert config["services"]["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert config["services"]["migrate"]["restart"] == "no"


def test_postgres_keeps_its_data_in_a_named_volume_and_has_a_healthcheck(config):
    postgres = config["services"]["postgres"]

    assert postgres["image"].startswith("postgres:16")
    assert any(volume.endswith(":/var/lib/postgresql/data") or ":/var/lib/postgresql/data:" in volume
               for volume in postgres["volumes"])
    named = postgres["volumes"][0].split(":")[0]
    assert named in config["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_redis_is_redis_7(config):
    assert config["services"]["redis"]["image"].startswith("redis:7")


def test_the_image_is_python_311_slim_and_serves_what_the_procfile_serves(procfile):
    dockerfile = (REPO / "Dockerfile").read_text()
    lines = [line.strip() for line in dockerfile.splitlines()]

    assert "FROM python:3.11-slim" in lines
    assert "RUN pip install -r requirements.txt" in lines
    assert any(line.startswith("RUN ") and "manage.py collectstatic --noinput" in line for line in lines)
    cmd = next(line for line in lines if line.startswith("CMD "))
    assert json.loads(cmd.removeprefix("CMD ")) == ["sh", "-c", procfile["web"]]


def test_the_build_context_leaves_out_local_state():
    ignored = set((REPO / ".dockerignore").read_text().split())

    assert {".git", ".venv", "data", ".lab"} <= ignored
