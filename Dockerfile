# syntax=docker/dockerfile:1
# One image for all four services; the Deployment picks the service with `args: ["serve", "<svc>"]`.
# Build: docker build -t zhicheng:dev .      Run: docker run --rm -p 8001:8001 zhicheng:dev serve intake
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: install the package and its dependencies into a self-contained virtualenv ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/zhicheng
ENV PATH=/opt/zhicheng/bin:$PATH
# nameko 2.14.1 imports pkg_resources, which setuptools 82 removed (see NAMEKO-NOTES).
RUN pip install --upgrade pip "setuptools<82" wheel
WORKDIR /src
# .dockerignore keeps tests, docs, the local venv, var/ and any secrets out of the context.
COPY . .
RUN pip install . \
 && python -m compileall -q /opt/zhicheng \
 && zhicheng --help > /dev/null

# ---- runtime: same base, only the virtualenv, an unprivileged user and no build tools ----
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/zhicheng/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
RUN groupadd --system --gid 10001 zhicheng \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin zhicheng
COPY --from=build /opt/zhicheng /opt/zhicheng
# The services write nothing but /tmp (an emptyDir in Kubernetes), so the root fs can be read-only.
WORKDIR /tmp
USER 10001:10001
# intake 8001, review 8002, experts 8003, audit 8004: /healthz /readyz /metrics and the HTTP API.
EXPOSE 8001 8002 8003 8004
ENTRYPOINT ["zhicheng"]
CMD ["serve", "intake"]
