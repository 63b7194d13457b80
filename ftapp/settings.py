"""Settings, read from the environment (see the README's table of variables).

With nothing set, ftapp runs on a SQLite file under ``var/`` and runs Celery tasks in-process,
so the demo needs nothing else installed. A deployment sets DATABASE_URL, REDIS_URL,
SECRET_KEY and DEBUG=false.
"""

import re
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from ftapp.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("FTAPP_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", default=False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY for a deployment, "
            "or DEBUG=true for local development (a key is then generated into var/)."
        )
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "whitenoise.runserver_nostatic",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "annotation",
    "evaluation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Inside the user and messages middleware: the page it shows has the site's navigation.
    "ftapp.not_found.NotFoundPageMiddleware",
    "ftapp.database.DatabaseUnavailableMiddleware",
    # Last, as axes asks: it turns a refused login into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ftapp.urls"
WSGI_APPLICATION = "ftapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'ftapp.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo's web requests and its background thread (ftapp/queueing.py) write the same
    # file: a busy timeout makes a writer wait for the other's commit, transactions take the
    # write lock as they begin (a read that later writes cannot deadlock with another such),
    # and the write-ahead log lets pages read while the background thread writes.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login lock-out (django-axes, see ftapp/login_lockout.py): after this many failed logins
# within the cool-off, an account, or an address, is refused whatever the password, until
# LOGIN_LOCKOUT_MINUTES after the last failure; a success clears the account's failures.
AUTHENTICATION_BACKENDS = [
    "ftapp.login_lockout.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]


def _at_least_one(name: str, default: int) -> int:
    value = env_int(name, default)
    if value < 1:
        raise ImproperlyConfigured(f"{name} must be 1 or more, not {value}")
    return value


AXES_FAILURE_LIMIT = _at_least_one("LOGIN_FAILURES_PER_ACCOUNT", 5)
LOGIN_FAILURES_PER_ADDRESS = _at_least_one("LOGIN_FAILURES_PER_ADDRESS", 20)
AXES_COOLOFF_TIME = timedelta(minutes=_at_least_one("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_HANDLER = "ftapp.login_lockout.LoginLockoutHandler"
AXES_CLIENT_IP_CALLABLE = "ftapp.login_lockout.client_address"
AXES_USERNAME_CALLABLE = "ftapp.login_lockout.login_username"
AXES_LOCKOUT_CALLABLE = "ftapp.login_lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
# Tries during a lock-out do not count, so it ends when the page said it would.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Failures are what the lock-out needs; a row per successful login is not kept.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
# axes's default, named here because ftapp/login_lockout.py reads it.
AXES_USERNAME_FORM_FIELD = "username"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_ROOT = VAR_DIR / "media"
# Dataset exports, one directory each; the web servers and the export workers must share it.
EXPORTS_DIR = Path(env_str("FTAPP_EXPORTS_DIR") or VAR_DIR / "exports")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Security: a deployment serves HTTPS (directly or behind a proxy that sets
# X-Forwarded-Proto). HTTPS=false is for a plain-HTTP trial such as the compose stack on
# localhost; it turns off the redirect, secure cookies and HSTS together.
HTTPS = env_bool("HTTPS", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
SECURE_HSTS_SECONDS = _HSTS_SECONDS if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Content-Security-Policy on every response: scripts and styles only from the app's own
# static files (no inline script or style, no eval), nothing may frame a page, and forms
# post only back to the app. Markup keeps to it: no style attributes, no inline handlers.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}


def _throttle_rate(name: str, default: str) -> str:
    """A DRF rate such as ``100/minute``, checked here so that a typo stops the start-up
    instead of turning every API request into a 500."""
    rate = (env_str(name) or default).strip()
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", rate):
        raise ImproperlyConfigured(f"{name} must be a rate such as 100/minute, not {rate!r}")
    return rate


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "annotation.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "ftapp.api_schema.AutoSchema",
    "EXCEPTION_HANDLER": "ftapp.api_errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    # Bodies are JSON only: a form cannot carry the nested objects (filters, params, rubric
    # scores) nor tell a one-item list from a string. The import endpoint reads its own body.
    # The parser refuses what jsonb cannot store or Python cannot walk (ftapp/json_input.py).
    "DEFAULT_PARSER_CLASSES": ["ftapp.json_input.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Anonymous clients are counted by address, signed-in ones by user; views that set
    # ``throttle_scope`` (the token endpoint: "auth") are also held to that scope's rate. The
    # counts live in the cache (CACHES below), or in each process while it is unreachable.
    # DRF checks permissions first, so an anonymous call to a protected endpoint is a 401 and
    # never counts.
    "DEFAULT_THROTTLE_CLASSES": [
        "ftapp.throttling.AnonRateThrottle",
        "ftapp.throttling.UserRateThrottle",
        "ftapp.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": _throttle_rate("API_THROTTLE_ANON", "100/minute"),
        "user": _throttle_rate("API_THROTTLE_USER", "10000/minute"),
        # Each try of a password at POST /api/v1/auth/token/ counts, right or wrong.
        "auth": _throttle_rate("API_THROTTLE_AUTH", "20/minute"),
    },
    # How many proxies in front of the app append to X-Forwarded-For. With 0 the client's
    # address is the connection's own: a client cannot pick a fresh address per request by
    # sending that header, which would make the per-address limits useless.
    "NUM_PROXIES": env_int("API_NUM_PROXIES", 0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ftapp API",
    "DESCRIPTION": "Projects, queues, judgments, generation runs and dataset exports.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema describes the API, not data: readable without logging in.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several serializers have a "kind" of project; without a name of its own drf-spectacular
    # warns and calls it Kind0bcEnum.
    "ENUM_NAME_OVERRIDES": {
        "ProjectKindEnum": "annotation.models.ProjectKind",
        "ChoiceEnum": "annotation.models.Choice",
    },
}

# Celery. With REDIS_URL unset, tasks run in-process (eagerly) so the app works alone: by
# default in a background thread of the server process (ftapp/queueing.py), so that no request
# waits for a run or an export; "inline" runs them within the request, after its commit, which
# the test suite's quick loop (no Redis) relies on.
REDIS_URL = env_str("REDIS_URL") or None
BACKGROUND_WORK = "thread"
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ALWAYS_EAGER = REDIS_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 30 * 60)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 35 * 60)
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = [Queue(name) for name in ("generation", "exports", "default")]
CELERY_TASK_ROUTES = {
    "generation.*": {"queue": "generation"},
    "exports.*": {"queue": "exports"},
}
# A redelivered late-ack task must not outlive the hard time limit before Redis hands it out
# again, or a long task would run twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 5 * 60}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 5 * 60}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# That visibility timeout is far too long to wait for the message of a worker killed whole
# (and a Redis restarted empty has lost it): a sweep, on each worker's start and from Celery
# beat every quarter of STALE_JOB_SECONDS, queues again the exports and generation runs whose
# worker is gone (evaluation/generation/recovery.py), and fails a job after JOB_MAX_ATTEMPTS deaths.
STALE_JOB_SECONDS = env_int("FTAPP_STALE_JOB_SECONDS", 120)
JOB_MAX_ATTEMPTS = env_int("FTAPP_JOB_MAX_ATTEMPTS", 3)
if STALE_JOB_SECONDS < 1 or JOB_MAX_ATTEMPTS < 1:
    raise ImproperlyConfigured("FTAPP_STALE_JOB_SECONDS and FTAPP_JOB_MAX_ATTEMPTS must be >= 1")
JOB_SWEEP_SECONDS = max(1.0, STALE_JOB_SECONDS / 4)
# Starting a run or a round first asks each model's server for its model list, waiting this
# long for an answer: a server that does not answer at all refuses the start.
MODEL_PROBE_TIMEOUT_SECONDS = 5.0
CELERY_BEAT_SCHEDULE = {
    "recover-stale-jobs": {
        "task": "ops.recover_stale_jobs",
        "schedule": JOB_SWEEP_SECONDS,
        # A sweep that waited longer than this is superseded by the next one.
        "options": {"expires": JOB_SWEEP_SECONDS},
    },
}

# The cache holds the API throttle counts. In Redis every web process shares them; in local
# memory (no REDIS_URL, or while Redis is unreachable: ftapp/throttling.py) each process counts
# on its own, so the limits apply per process.
# Do not call cache.clear() against Redis: it flushes the whole database, Celery's queues too.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "ftapp",
            # Fail an API request within seconds, not hang it, when Redis is unreachable.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def _model_key_variables() -> list[str]:
    """Variables besides those named FTAPP_MODEL_KEY_* that model endpoints may name as
    holding their API key (evaluation.generation.model_keys)."""
    names = env_list("FTAPP_MODEL_KEYS", [])
    for position, name in enumerate(names, start=1):
        if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
            # Not quoted: what was put here by mistake may be a key itself.
            raise ImproperlyConfigured(
                "FTAPP_MODEL_KEYS lists environment variable names, such as OPENAI_API_KEY; "
                f"item {position} is not one"
            )
    return names


MODEL_KEY_VARIABLES = _model_key_variables()

# The most an import may hold once decompressed, read as a stream and checked as it goes: a
# gzip bomb costs this much decompression at most, never memory. 1 GiB leaves room for three
# times the largest benchmarked file (200,000 records, 330 MB) while capping a bomb at a few
# seconds of one core.
IMPORT_MAX_BYTES = env_int("FTAPP_IMPORT_MAX_BYTES", 1024**3)
if IMPORT_MAX_BYTES < 1:
    raise ImproperlyConfigured("FTAPP_IMPORT_MAX_BYTES must be a positive number of bytes")

# Where `manage.py serve_local_model` answers by default; the demo registers that model when
# something answers there. Empty: the demo does not look.
LOCAL_MODEL_URL = env_str("FTAPP_LOCAL_MODEL_URL", "http://127.0.0.1:8765/v1") or ""

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
