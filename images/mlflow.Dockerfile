# MLflow tracking server with the PostgreSQL driver and the basic-auth app (Flask-WTF: its CSRF
# protection). The backend store URI and the auth configuration come from the environment, the
# artifact root and the listen address from arguments, all given by the Deployment
# (manifests/base/mlflow.yaml), so no connection string or password is baked into the image.
# Build (the context is this directory; nothing is copied into the image):
#   docker build -f images/mlflow.Dockerfile -t ghcr.io/stockpredictor/mlflow:3.17.2 images/

FROM python:3.11.16-slim-trixie

LABEL org.opencontainers.image.title="stockpredictor-mlflow" \
      org.opencontainers.image.description="MLflow 3.17.2 tracking server with basic auth and psycopg2 for a PostgreSQL backend store"

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN pip install --no-cache-dir mlflow==3.17.2 Flask-WTF==1.3.0 psycopg2-binary==2.9.13

ARG APP_UID=10001
RUN groupadd --gid "${APP_UID}" mlflow \
    && useradd --uid "${APP_UID}" --gid "${APP_UID}" --create-home --home-dir /home/mlflow \
       --shell /usr/sbin/nologin mlflow \
    && mkdir -p /mlflow/artifacts \
    && chown -R mlflow:mlflow /mlflow

WORKDIR /home/mlflow
USER 10001:10001

EXPOSE 5000
CMD ["mlflow", "server"]
