"""docker-compose.yml cannot run here (no Docker engine), so check that everything it names
exists: modules, commands, queues, environment variables, URLs, services and volumes."""

import importlib
import importlib.util
import re
import shlex
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands
from django.urls import resolve

import ftapp.env

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = {name: s for name, s in SERVICES.items() if "build" in s}
QUEUES = {q.name for q in settings.CELERY_TASK_QUEUES}


def _argv(command) -> list[str]:
    return command if isinstance(command, list) else shlex.split(command)


def _option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name:
            return argv[i + 1]
    return None


def test_the_stack_has_web_worker_beat_database_and_broker():
    assert {"web", "worker", "beat", "postgres", "redis", "migrate"} <= set(SERVICES)
    assert set(APP_SERVICES) == {"web", "worker", "beat", "migrate"}


def test_the_image_build_copies_what_exists():
    assert {s["build"] for s in APP_SERVICES.values()} == {"."}
    dockerfile = (ROOT / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), f"Dockerfile copies missing {path}"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_commands_refer_to_real_entry_points(name):
    argv = _argv(APP_SERVICES[name]["command"])
    program = argv[0]
    if program == "python":
        assert argv[1] == "manage.py" and (ROOT / "manage.py").exists()
        assert argv[2] in get_commands(), f"no manage.py command {argv[2]}"
    elif program == "gunicorn":
        assert importlib.util.find_spec("gunicorn") is not None
        target = next(arg for arg in argv[1:] if not arg.startswith("-"))
        module, attribute = target.split(":")
        assert callable(getattr(importlib.import_module(module), attribute))
    elif program == "celery":
        app_module = _option(argv, "--app")
        app = importlib.import_module(f"{app_module}.celery").app
        assert app.main == "ftapp"
        if "beat" in argv:
            schedule = _option(argv, "--schedule")
            assert schedule.startswith("/app/var/"), "beat's schedule belongs on the volume"
            app.loader.import_default_modules()  # the tasks, found lazily otherwise
            for entry in app.conf.beat_schedule.values():
                assert entry["task"] in app.tasks, f"beat sends unknown task {entry['task']}"
        else:
            assert "worker" in argv
            assert set(_option(argv, "--queues").split(",")) == QUEUES, (
                "every queue needs a consumer"
            )
    else:
        pytest.fail(f"unexpected command {program} in service {name}")


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_environment_names_only_variables_the_settings_read(name):
    environment = APP_SERVICES[name]["environment"]
    unknown = set(environment) - ftapp.env.KNOWN
    assert not unknown, f"{name} sets variables the settings never read: {unknown}"
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"} <= set(environment)
    assert environment["DATABASE_URL"].endswith("@postgres:5432/ftapp")
    assert environment["REDIS_URL"].startswith("redis://redis:6379/")
    postgres = SERVICES["postgres"]["environment"]
    assert (
        f"{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}@"
        in (environment["DATABASE_URL"])
    )


def test_web_healthcheck_hits_a_real_url():
    test = " ".join(SERVICES["web"]["healthcheck"]["test"])
    path = re.search(r"http://127\.0\.0\.1:8000(/[^'\"]*)", test).group(1)
    assert resolve(path).url_name == "healthz"
    assert path.lstrip("/") + "$" in "".join(settings.SECURE_REDIRECT_EXEMPT)


def test_dependencies_and_volumes_are_declared():
    for name, service in SERVICES.items():
        for dependency, spec in service.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{dependency} has no healthcheck"
        for volume in service.get("volumes", []):
            named = volume.split(":")[0]
            assert named in COMPOSE["volumes"], f"{name} uses undeclared volume {named}"
    shared = {v.split(":")[0] for v in SERVICES["web"]["volumes"]}
    assert shared == {v.split(":")[0] for v in SERVICES["worker"]["volumes"]}, (
        "web and worker must share var/ (exports are written by one and served by the other)"
    )


def test_readme_documents_every_environment_variable():
    readme = (ROOT / "README.md").read_text()
    missing = sorted(name for name in ftapp.env.KNOWN if f"`{name}`" not in readme)
    assert not missing, f"README does not document {missing}"
