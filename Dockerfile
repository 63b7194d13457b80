FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FTAPP_VAR_DIR=/app/var

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ftapp ./ftapp
COPY annotation ./annotation
COPY evaluation ./evaluation
COPY templates ./templates
COPY static ./static
COPY manage.py ./
RUN pip install --no-cache-dir . \
 && DEBUG=false SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
 && useradd --create-home --uid 1000 ftapp \
 && mkdir -p /app/var && chown -R ftapp /app/var

USER ftapp
EXPOSE 8000
CMD ["gunicorn", "ftapp.wsgi:application", "--bind", "0.0.0.0:8000"]
