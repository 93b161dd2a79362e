"""The Dockerfile builds the images the Helm values name: read on paper (no Docker daemon here).

Each target's stages are followed back to the base image, with the build arguments' defaults expanded: the
``gpu`` target installs torch's CUDA build and the ``cpu`` target its CPU build, both at pyproject's torch pin,
then the package with its cluster extra. The build commands written in the Dockerfile, the README and the Helm
values' comment tag the images the values use: the CPU image for the code server and runs, the CUDA image
(``FIN_PIPELINE_GPU_IMAGE``) for the GPU steps' pods.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VALUES_TEXT = (ROOT / "deploy" / "helm" / "values.yaml").read_text()
VALUES = yaml.safe_load(VALUES_TEXT)
BUILD = re.compile(r"docker build --target (\S+) -t (\S+) \.")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        if not current and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        current += raw.rstrip().removesuffix("\\") + " " if raw.rstrip().endswith("\\") else raw.strip()
        if not raw.rstrip().endswith("\\"):
            lines.append(current.strip())
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def stages(text: str) -> tuple[dict[str, str], dict[str, dict]]:
    """The global build arguments' defaults, and per stage its parent (image or stage), ARGs and RUN lines."""
    global_args: dict[str, str] = {}
    result: dict[str, dict] = {}
    stage = None
    for op, args in instructions(text):
        if op == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", args, flags=re.IGNORECASE)
            assert m and m.group(2), f"every stage is named: FROM {args}"
            stage = result.setdefault(m.group(2), {"from": m.group(1), "args": {}, "run": []})
        elif op == "ARG":
            name, _, default = args.partition("=")
            (global_args if stage is None else stage["args"])[name] = default
        elif op == "RUN":
            stage["run"].append(args)
    return global_args, result


def chain(name: str) -> list[dict]:
    """A stage and its ancestors (stage names), nearest first."""
    global_args, all_stages = stages(DOCKERFILE)
    out = []
    while name in all_stages:
        out.append(all_stages[name])
        name = all_stages[name]["from"]
    return out


def expand(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), text)


def runs(target: str) -> list[str]:
    """The RUN lines that build ``target``, oldest first, with the build arguments' defaults expanded."""
    global_args, _ = stages(DOCKERFILE)
    lines = []
    for stage in reversed(chain(target)):
        args = {**global_args, **{k: v or global_args.get(k, "") for k, v in stage["args"].items()}}
        lines += [expand(r, args) for r in stage["run"]]
    return lines


def images_built(text: str) -> dict[str, str]:
    return dict(BUILD.findall(text))


TORCH_PIN = next(d for d in PYPROJECT["project"]["dependencies"] if d.startswith("torch"))
VERSION = PYPROJECT["project"]["version"]


@pytest.mark.parametrize(("target", "index"), [("cpu", "https://download.pytorch.org/whl/cpu"), ("gpu", "/whl/cu")])
def test_each_target_installs_its_torch_build_at_the_pin_then_the_package_with_its_cluster_extra(target, index):
    lines = runs(target)
    (torch_line,) = [r for r in lines if re.search(r"pip install --index-url \S+ \"?torch==", r)]
    assert index in torch_line and f'"{TORCH_PIN}"' in torch_line, torch_line
    (package_line,) = [r for r in lines if "[cluster]" in r]
    assert "--constraint" in package_line  # pip may not swap the torch build for another
    assert lines.index(torch_line) < lines.index(package_line)
    other_build = r"/whl/cu\d" if target == "cpu" else r"/whl/cpu"
    assert not any(re.search(other_build, r) for r in lines)
    # the image checks its own torch: a CUDA build in gpu, the CPU build in cpu
    assert any(("torch.version.cuda is None" in r) == (target == "cpu") and "torch.version.cuda" in r for r in lines)


def test_the_base_image_is_python_of_the_project():
    global_args, _ = stages(DOCKERFILE)
    base = expand(chain("cpu")[-1]["from"], global_args)
    assert base == expand(chain("gpu")[-1]["from"], global_args)
    minimum = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    assert re.match(rf"python:{re.escape(minimum)}(-|$)", base), base


def test_the_helm_values_name_the_images_the_build_commands_tag():
    built = images_built(DOCKERFILE)
    _, all_stages = stages(DOCKERFILE)
    assert set(built) == {"cpu", "gpu"} <= set(all_stages)
    assert all(image.endswith(f":{VERSION}-cpu" if t == "cpu" else f":{VERSION}-cuda") for t, image in built.items())
    (deployment,) = VALUES["dagster-user-deployments"]["deployments"]
    assert f"{deployment['image']['repository']}:{deployment['image']['tag']}" == built["cpu"]
    env = {e["name"]: e.get("value") for e in deployment["env"]}
    assert env["FIN_PIPELINE_GPU_IMAGE"] == built["gpu"]
    assert env["FIN_PIPELINE_EXECUTOR"] == "k8s"
    # the same commands wherever they are written
    assert images_built(VALUES_TEXT) == built
    assert images_built((ROOT / "README.md").read_text()) == built


def test_the_build_context_keeps_what_the_dockerfile_copies():
    ignored = {
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()[:1] not in ("", "#")
    }
    copied = {
        part
        for op, args in instructions(DOCKERFILE)
        if op == "COPY" and "--from" not in args
        for part in args.split()[:-1]
    }
    assert copied == {"pyproject.toml", "README.md", "fin_pipeline"}
    assert not copied & ignored
    assert {".venv", "data", ".git"} <= ignored
