# The bot as one small image: `docker build -t feedbackbot .`, then see compose.yaml and the README's Deployment.
# Stage 1 builds the project's wheels (the compilers stay behind); stage 2 installs them for a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot bot
COPY handlers handlers
COPY storage storage
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FEEDBACKBOT_SERVER__HOST=0.0.0.0 \
    FEEDBACKBOT_SERVER__PORT=8080
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels feedbackbot \
    && useradd --system --create-home --home-dir /app --uid 10001 feedbackbot
WORKDIR /app
# Surveys are read from ./surveys unless [surveys] dir says otherwise; mount your own over this folder.
COPY --chown=feedbackbot:feedbackbot surveys surveys
USER feedbackbot
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('FEEDBACKBOT_SERVER__PORT', '8080'), timeout=8).status != 200)"]
ENTRYPOINT ["feedbackbot"]
CMD ["run"]
