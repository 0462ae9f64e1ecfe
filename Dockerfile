FROM python:3.11-slim
# fonts for the audit report PDF (Latin and Chinese); without them it falls back and replaces what it cannot draw
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY orchestrator orchestrator
COPY tasks tasks
COPY integrations integrations
COPY web web
COPY bpmn bpmn
RUN pip install --no-cache-dir ".[postgres]"
ENV LOOPLINE_BPMN_DIR=/app/bpmn
EXPOSE 8080
CMD ["loopline", "serve", "--host", "0.0.0.0", "--port", "8080"]
