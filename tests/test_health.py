import pytest


@pytest.mark.django_db
def test_healthz_reports_database_and_broker(client, settings):
    response = client.get("/healthz/")
    assert response.status_code == 200
    expected_broker = "ok" if settings.REDIS_URL else "in-process"
    assert response.json() == {"database": "ok", "broker": expected_broker}


@pytest.mark.django_db
def test_healthz_fails_when_the_broker_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz/")
    assert response.status_code == 503
    assert response.json()["broker"].startswith("error")
