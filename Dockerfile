# agentmem sidecar: `agentmem serve` with the server and Postgres extras, CPU torch, the bundled
# MiniLM embedder; nothing is downloaded at run time (HF_HUB_OFFLINE=1).
# Build: docker build -t agentmem .     Run: docker compose up (see docs/deployment.md)

FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/agentmem
ENV PATH=/opt/agentmem/bin:$PATH
WORKDIR /src
# every version comes from requirements.lock (the project's pins; it is a constraint here, so
# only what the sidecar needs is installed). torch first, as the CPU build; this layer is
# cached across code changes.
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir -c requirements.lock "torch==$(sed -n 's/^torch==//p' requirements.lock)+cpu" \
        --extra-index-url https://download.pytorch.org/whl/cpu
COPY agentmem ./agentmem
COPY adapters ./adapters
COPY kernels ./kernels
RUN pip install --no-cache-dir -c requirements.lock ".[server,postgres]"

FROM python:3.11-slim
COPY --from=build /opt/agentmem /opt/agentmem
ENV PATH=/opt/agentmem/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ANONYMIZED_TELEMETRY=False \
    AGENTMEM_HOME=/var/lib/agentmem
RUN useradd --system --uid 10001 --home-dir /var/lib/agentmem --create-home agentmem
USER agentmem
WORKDIR /var/lib/agentmem
EXPOSE 8750
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=5 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8750/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["agentmem"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8750"]
