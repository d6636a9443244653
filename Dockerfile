# syntax=docker/dockerfile:1
# mock-epay: a local sandbox of Halyk Bank's ePay payment gateway.
#
#   docker build -t mock-epay .
#   docker run --rm -p 8080:8080 mock-epay
#
# The admin API under /_mock/ needs a token because the server binds 0.0.0.0 here.
# By default (MOCK_EPAY_ADMIN_TOKEN=auto) a random token is generated and printed in the
# log; set your own with -e MOCK_EPAY_ADMIN_TOKEN=..., or -e MOCK_EPAY_ALLOW_OPEN_ADMIN=1
# to leave it open on a network you trust. /_mock/health is always open. See docs/docker.md.
FROM python:3.11-slim

LABEL org.opencontainers.image.title="mock-epay" \
      org.opencontainers.image.description="Local sandbox of Halyk Bank's ePay payment gateway" \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The source is bind-mounted for the install only, so it leaves no layer behind.
RUN --mount=type=bind,source=.,target=/src,rw \
    pip install --no-cache-dir /src

RUN groupadd --gid 10001 mockepay \
    && useradd --uid 10001 --gid 10001 --no-log-init --create-home --shell /usr/sbin/nologin mockepay
USER 10001:10001
WORKDIR /home/mockepay

# The token's value here is the word "auto" (generate one at start-up), not a secret.
# hadolint ignore=DL3064
ENV MOCK_EPAY_HOST=0.0.0.0 \
    MOCK_EPAY_PORT=8080 \
    MOCK_EPAY_ADMIN_TOKEN=auto
EXPOSE 8080

# No curl in the slim image: Python's urllib does the probe.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/_mock/health' % os.environ.get('MOCK_EPAY_PORT', '8080'), timeout=2)"]

CMD ["mock-epay", "serve"]
