"""The Kubernetes deployment on paper: the step job specs dagster-k8s itself builds from deploy/helm/values.yaml."""

import json

import kubernetes
import pytest
import yaml
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job, get_user_defined_k8s_config

from fin_pipeline.defs.assets.live import live_model
from fin_pipeline.defs.assets.training import fold_metrics, trained_model
from fin_pipeline.defs.executors import GPU_STEPS, TRAINING_OP_TAGS, training_op_tags

from .conftest import REPO_ROOT

VALUES = yaml.safe_load((REPO_ROOT / "deploy" / "helm" / "values.yaml").read_text())
(DEPLOYMENT,) = VALUES["dagster-user-deployments"]["deployments"]
ENV = {e["name"]: e.get("value") for e in DEPLOYMENT["env"]}
CPU_IMAGE = f"{DEPLOYMENT['image']['repository']}:{DEPLOYMENT['image']['tag']}"


def op_tags(asset) -> dict:
    """The asset's op tags as the pods compute them: from the deployment's env (FIN_PIPELINE_GPU_IMAGE)."""
    if asset.op.name not in GPU_STEPS:
        return asset.op.tags
    assert json.loads(asset.op.tags["dagster-k8s/config"]) == TRAINING_OP_TAGS["dagster-k8s/config"]
    tags = training_op_tags(ENV.get("FIN_PIPELINE_GPU_IMAGE"))
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in tags.items()}  # as Dagster stores op tags


def step_job(asset) -> dict:
    """The Kubernetes Job that k8s_job_executor would create for ``asset``'s step (as a plain dict)."""
    image = CPU_IMAGE  # the run's image: the user deployment's (includeConfigInLaunchedRuns)
    # the run's context (the user deployment's env, included in launched runs), then the step's op tags
    context = K8sContainerContext(
        env=DEPLOYMENT["env"],
        env_secrets=[s["name"] for s in DEPLOYMENT["envSecrets"]],
        namespace="default",
    ).merge(K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(op_tags(asset))))
    job = construct_dagster_k8s_job(
        job_config=DagsterK8sJobConfig(
            job_image=image, dagster_home="/opt/dagster/dagster_home", instance_config_map="dagster-instance"
        ),
        args=["dagster", "api", "execute_step"],
        job_name=f"dagster-step-{asset.op.name}",
        user_defined_k8s_config=context.run_k8s_config,
        component="step_worker",
        env_vars=[{"name": "DAGSTER_RUN_STEP_KEY", "value": asset.op.name}],
    )
    return kubernetes.client.ApiClient().sanitize_for_serialization(job)


def container(spec: dict) -> dict:
    (c,) = spec["spec"]["template"]["spec"]["containers"]
    return c


def test_the_gpu_steps_are_the_assets_with_the_training_tags():
    from fin_pipeline.definitions import ASSETS

    queues = {asset.op.name: asset.op.tags.get("dagster-celery/queue") for asset in ASSETS}
    assert len(queues) == len(ASSETS) >= 10
    assert (
        {name for name, queue in queues.items() if queue == "gpu"}
        == set(GPU_STEPS)
        == {"trained_model", "live_model", "board_predictions"}
    )


@pytest.mark.parametrize("asset", [trained_model, live_model])
def test_each_training_step_is_a_pod_with_one_gpu_in_the_cuda_image(asset):
    spec = step_job(asset)
    c = container(spec)
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert c["resources"]["requests"]["nvidia.com/gpu"] == "1"
    tolerations = spec["spec"]["template"]["spec"]["tolerations"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations
    assert c["image"] == "ghcr.io/fin-pipeline/fin-pipeline:0.1.0-cuda" != CPU_IMAGE


@pytest.mark.parametrize("asset", [trained_model, fold_metrics])
def test_step_pods_get_the_image_the_data_url_and_the_key_from_a_secret(asset):
    c = container(step_job(asset))
    assert c["image"] == ("ghcr.io/fin-pipeline/fin-pipeline:0.1.0-cuda" if asset is trained_model else CPU_IMAGE)
    assert CPU_IMAGE == "ghcr.io/fin-pipeline/fin-pipeline:0.1.0-cpu"
    env = {e["name"]: e for e in c["env"]}
    assert env["FIN_PIPELINE_DATA_DIR"]["value"] == "s3://fin-pipeline-data/prod"
    key = env["POLYGON_API_KEY"]
    assert "value" not in key  # never a literal
    assert key["valueFrom"]["secretKeyRef"] == {"name": "fin-pipeline-secrets", "key": "POLYGON_API_KEY"}
    assert {"secretRef": {"name": "fin-pipeline-secrets"}} in c["envFrom"]


def test_other_steps_ask_for_no_gpu():
    c = container(step_job(fold_metrics))
    assert "nvidia.com/gpu" not in str(c.get("resources") or {})
