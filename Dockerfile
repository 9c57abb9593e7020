# The mentionbot image: listener, workers, beat and migrations (vLLM runs in its own image).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY bot ./bot
COPY workers ./workers
COPY models ./models
COPY migrations ./migrations
RUN pip install .
USER nobody
ENTRYPOINT ["mentionbot"]
