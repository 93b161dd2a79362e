# syntax=docker/dockerfile:1
# The images deploy/helm/values.yaml names: one file, two targets that differ only in their torch build.
#
#   docker build --target cpu -t ghcr.io/fin-pipeline/fin-pipeline:0.1.0-cpu .
#   docker build --target gpu -t ghcr.io/fin-pipeline/fin-pipeline:0.1.0-cuda .
#   docker push ghcr.io/fin-pipeline/fin-pipeline:0.1.0-cpu
#   docker push ghcr.io/fin-pipeline/fin-pipeline:0.1.0-cuda
#
# cpu: the code server, the runs and every CPU step (torch's CPU build, ~200 MB). gpu: the GPU steps'
# pods (trained_model, live_model; FIN_PIPELINE_GPU_IMAGE) with torch's CUDA build, whose wheels bring the CUDA
# libraries: the node needs only the NVIDIA driver. Both install torch first from PyTorch's own index, then this
# package with its cluster extra, constrained to that torch so pip never replaces it with another build. The
# package goes in as one wheel built once, so both images hold the same source files and so the same code
# version (fin_pipeline/training/versions.py): a model trained in one is current in the other.
# The tag's version is pyproject.toml's (fin_pipeline_tests/test_deploy.py checks the tags against the Helm values).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG TORCH_VERSION=2.13.0

FROM ${PYTHON_IMAGE} AS base
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv

# The package as a wheel, independent of torch: only pyproject.toml, README.md and the package enter the build.
FROM base AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY fin_pipeline ./fin_pipeline
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM base AS torch-cpu
ARG TORCH_VERSION
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "$TORCH_CPU_INDEX" "torch==$TORCH_VERSION" \
 && python -c "import torch; assert torch.version.cuda is None, torch.__version__"

FROM base AS torch-gpu
ARG TORCH_VERSION
ARG TORCH_CUDA_INDEX=https://download.pytorch.org/whl/cu128
RUN pip install --index-url "$TORCH_CUDA_INDEX" "torch==$TORCH_VERSION" \
 && python -c "import torch; assert torch.version.cuda, 'not a CUDA build: ' + torch.__version__"

FROM torch-cpu AS cpu
COPY --from=wheel /wheels /wheels
RUN pip freeze | grep -i '^torch==' > /opt/torch-constraint.txt \
 && pip install --constraint /opt/torch-constraint.txt "$(echo /wheels/fin_pipeline-*.whl)[cluster]" \
 && rm -rf /wheels \
 && python -c "import torch; assert torch.version.cuda is None, torch.__version__"
WORKDIR /opt/dagster/app
EXPOSE 3030
# The Helm chart runs `dagster api grpc` with its own arguments; this default serves the code location.
CMD ["dagster", "api", "grpc", "-m", "fin_pipeline.definitions", "-h", "0.0.0.0", "-p", "3030"]

FROM torch-gpu AS gpu
COPY --from=wheel /wheels /wheels
RUN pip freeze | grep -i '^torch==' > /opt/torch-constraint.txt \
 && pip install --constraint /opt/torch-constraint.txt "$(echo /wheels/fin_pipeline-*.whl)[cluster]" \
 && rm -rf /wheels \
 && python -c "import torch; assert torch.version.cuda, 'not a CUDA build: ' + torch.__version__"
WORKDIR /opt/dagster/app
EXPOSE 3030
CMD ["dagster", "api", "grpc", "-m", "fin_pipeline.definitions", "-h", "0.0.0.0", "-p", "3030"]
