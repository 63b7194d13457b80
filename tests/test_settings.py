"""Settings come from the environment; each case runs in a fresh interpreter with its own
environment and var/ directory."""

import re

import pytest

from ftapp.celery import app
from tests.fresh_interpreter import run, show

DEPLOY_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "kq3v0Zx7o1Lw-9Tq2mC4rYbN8sJ5uE6hGdA1fPiXcVzR0tK3yB7nW2eQ9lM5jH8a",
    "ALLOWED_HOSTS": "ftapp.example.com",
}


def test_defaults_are_sqlite_under_var_and_in_process_celery(tmp_path):
    result = show(
        tmp_path,
        "settings.DATABASES['default']['NAME'], settings.CELERY_TASK_ALWAYS_EAGER",
        DEBUG="true",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{tmp_path / 'ftapp.sqlite3'} True"


def test_database_and_redis_urls_are_used(tmp_path):
    result = show(
        tmp_path,
        "settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['NAME'], "
        "settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER",
        DEBUG="true",
        DATABASE_URL="postgres://u:p@db.internal:5433/labels",
        REDIS_URL="redis://cache.internal:6379/2",
    )
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "labels",
        "redis://cache.internal:6379/2",
        "False",
    ]


def test_secret_key_is_generated_once_in_debug(tmp_path):
    first = show(tmp_path, "settings.SECRET_KEY", DEBUG="true")
    second = show(tmp_path, "settings.SECRET_KEY", DEBUG="true")
    key_file = tmp_path / "secret_key"
    assert first.stdout == second.stdout and len(first.stdout.strip()) >= 50
    assert key_file.read_text().strip() == first.stdout.strip()
    assert key_file.stat().st_mode & 0o077 == 0


def test_secret_key_is_required_without_debug(tmp_path):
    result = show(tmp_path, "settings.SECRET_KEY", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_a_malformed_boolean_is_an_error(tmp_path):
    result = show(tmp_path, "settings.DEBUG", DEBUG="maybe")
    assert result.returncode != 0 and "DEBUG must be true or false" in result.stderr


def test_deploy_check_passes_and_whitenoise_serves_static_files(tmp_path):
    check = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], tmp_path, **DEPLOY_ENV
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "System check identified no issues (0 silenced)." in check.stdout
    collect = run(["manage.py", "collectstatic", "--noinput"], tmp_path, **DEPLOY_ENV)
    assert collect.returncode == 0, collect.stderr
    fetch = run(
        [
            "-c",
            "import django; django.setup(); from django.test import Client; "
            "from django.contrib.staticfiles.storage import staticfiles_storage as s; "
            "url = s.url('css/app.css'); r = Client().get(url, secure=True, "
            "HTTP_HOST='ftapp.example.com'); "
            "print(url, r.status_code, r.headers['Cache-Control'])",
        ],
        tmp_path,
        DJANGO_SETTINGS_MODULE="ftapp.settings",
        **DEPLOY_ENV,
    )
    url, status, cache = fetch.stdout.split(maxsplit=2)
    assert re.fullmatch(r"/static/css/app\.[0-9a-f]{12}\.css", url), fetch.stderr
    assert status == "200" and "immutable" in cache


def test_https_off_turns_off_redirect_cookies_and_hsts(tmp_path):
    result = show(
        tmp_path,
        "settings.SECURE_SSL_REDIRECT, settings.SESSION_COOKIE_SECURE, "
        "settings.SECURE_HSTS_SECONDS",
        **DEPLOY_ENV,
        HTTPS="false",
    )
    assert result.stdout.split() == ["False", "False", "0"]


def test_celery_is_configured_for_safe_redelivery():
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit
    assert {q.name for q in conf.task_queues} == {"generation", "exports", "default"}


def test_the_stale_job_sweep_runs_every_quarter_of_the_staleness(tmp_path):
    result = show(
        tmp_path,
        "settings.CELERY_BEAT_SCHEDULE['recover-stale-jobs']['schedule'], "
        "settings.JOB_MAX_ATTEMPTS",
        DEBUG="true",
        FTAPP_STALE_JOB_SECONDS="60",
        FTAPP_JOB_MAX_ATTEMPTS="5",
    )
    assert result.stdout.split() == ["15.0", "5"], result.stderr
    refused = show(tmp_path, "1", DEBUG="true", FTAPP_STALE_JOB_SECONDS="0")
    assert refused.returncode != 0 and "FTAPP_STALE_JOB_SECONDS" in refused.stderr


def test_in_process_celery_runs_tasks_without_redis(tmp_path):
    assert run(["manage.py", "migrate"], tmp_path, DEBUG="true").returncode == 0
    result = run(["manage.py", "check_workers"], tmp_path, DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [
        "generation",
        "exports",
        "default",
    ]
    assert "in-process@" in result.stdout


@pytest.mark.parametrize("value", ["1", "true", "yes", "on", "TRUE"])
def test_true_spellings(value, monkeypatch):
    from ftapp import env
    from ftapp.env import env_bool

    # A made-up variable: kept out of the set of variables the README must document.
    monkeypatch.setattr(env, "KNOWN", set(env.KNOWN))
    monkeypatch.setenv("FTAPP_SAMPLE_FLAG", value)
    assert env_bool("FTAPP_SAMPLE_FLAG", default=False) is True
