"""The data directory on S3: moto's server on a free 127.0.0.1 port (a real HTTP S3 API; nothing is mocked in
the client), the chain in process against ``s3://`` and against a local folder.

- the chain (candles, features, folds, normalization, training, metrics, report) runs end to end on S3, every
  file lands in the bucket, and the checkpoints equal the local run's; the report step, run with an empty
  cache (another machine), reads everything from the bucket;
- a fold interrupted after epoch 1 resumes on "another machine" (its local run folder gone) from the
  ``last.pt`` in the bucket, ending with the uninterrupted run's tensors;
- an upload whose connection drops mid-body leaves no object (or the previous one) under the key;
- a second writer of a fold is refused by the fold's lease (S3 conditional writes), an expired lease is taken
  over and its former holder cannot renew it;
- a missing bucket or refused credentials: one error naming the bucket, nothing written;
- the checks against stored history read the bucket: with an empty cache the report finds the stored record
  unchanged, and refuses a stored day that would change;
- ``fin-pipeline run`` on ``s3://`` exits 0, prints the forecast and names the report by its URL; a second run on
  unchanged data, from an empty cache, uploads nothing (every PUT the server receives is counted).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import torch
from dagster import DagsterInstance

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

from fin_pipeline.core.calendar import nyse_sessions  # noqa: E402
from fin_pipeline.core.settings import load_settings  # noqa: E402
from fin_pipeline.definitions import build_definitions  # noqa: E402
from fin_pipeline.defs.partitions import fold_partitions  # noqa: E402
from fin_pipeline.defs.resources import DataStore, SyntheticMarketResource  # noqa: E402
from fin_pipeline.store.location import LEASE_NAME, Lease, LeaseError, S3Store  # noqa: E402
from fin_pipeline.store.parquet import StorageError, read_json, read_parquet, write_parquet  # noqa: E402
from fin_pipeline_tests.subprocess_runs import BIN, TINY, env_for, make_home  # noqa: E402

TICKERS = list(load_settings().universe)
FOLDS = fold_partitions.get_partition_keys()  # three quarterly folds (conftest): 2020-10-01 … 2021-04-01
CANDLES = {"ops": {"raw_candles": {"config": {"start": "2018-01-02", "end": "2021-06-30"}}}}
TRAIN = {"ops": {"trained_model": {"config": {"epochs": 2, "model": "cnn", "batch_size": 64, "seed": 3}}}}
BUCKET = "fin-pipeline-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """moto's S3 server on 127.0.0.1, the bucket, and the environment the store reads; a boto3 client."""
    import boto3

    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FIN_PIPELINE_S3_ENDPOINT": f"http://127.0.0.1:{port}",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    client = boto3.client("s3", endpoint_url=env["FIN_PIPELINE_S3_ENDPOINT"])
    client.create_bucket(Bucket=BUCKET)
    yield client, port
    server.stop()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def puts(monkeypatch):
    """Every PUT the S3 server stores, as ``(key, bytes)``: the server runs in this process, so its backend sees
    the uploads of any client, a ``fin-pipeline`` subprocess included."""
    from moto.s3.models import S3Backend

    seen, real = [], S3Backend.put_object

    def counting(self, bucket_name, key_name, value, *args, **kwargs):
        seen.append((key_name, len(value)))
        return real(self, bucket_name, key_name, value, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "put_object", counting)
    return seen


def keys(client, prefix: str) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/")
    return {o["Key"][len(prefix) + 1 :] for page in pages for o in page.get("Contents", [])}


def get(client, key: str) -> bytes:
    return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def make_defs(root, cache=None):
    store = DataStore(root=str(root), cache_dir=str(cache) if cache else None)
    return build_definitions({"candle_source": SyntheticMarketResource(seed=7), "store": store})


def run(defs, job, partition=None, run_config=None):
    return defs.resolve_job_def(job).execute_in_process(
        partition_key=partition, run_config=run_config or {}, instance=DagsterInstance.ephemeral(), raise_on_error=False
    )


def errors(result) -> str:
    lines = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            lines.append(error.message)
            error = error.cause
    return "\n".join(lines)


def chain(defs, report_defs=None):
    torch.set_num_threads(1)
    results = [run(defs, "candles_job", t, CANDLES) for t in TICKERS]
    results += [run(defs, "walk_forward_job", f, TRAIN) for f in FOLDS]
    results.append(run(report_defs or defs, "report_job"))
    assert all(r.success for r in results), [errors(r) for r in results if not r.success]


def assert_same_tensors(a: bytes | Path, b: bytes | Path):
    load = lambda x: torch.load(io.BytesIO(x) if isinstance(x, bytes) else x, weights_only=True)  # noqa: E731
    ca, cb = load(a), load(b)
    assert (ca["epoch"], ca["best_score"]) == (cb["epoch"], cb["best_score"])
    assert ca["model"].keys() == cb["model"].keys()
    assert all(torch.equal(ca["model"][k], cb["model"][k]) for k in ca["model"])
    oa, ob = ca["optimizer"]["state"], cb["optimizer"]["state"]
    assert all(torch.equal(oa[i][k], ob[i][k]) for i in oa for k in oa[i] if torch.is_tensor(oa[i][k]))


@pytest.fixture(scope="module")
def runs(s3, tmp_path_factory):
    """The chain on a local folder and on s3://BUCKET/chain (the report step with a second, empty cache)."""
    client, _ = s3
    base = tmp_path_factory.mktemp("s3chain")
    local = base / "local"
    chain(make_defs(local))
    t0 = time.perf_counter()
    chain(make_defs(f"s3://{BUCKET}/chain", base / "cache_a"), make_defs(f"s3://{BUCKET}/chain", base / "cache_b"))
    print(f"chain on S3: {time.perf_counter() - t0:.1f} s")
    return client, base, local


def test_the_chain_runs_on_s3_and_its_files_equal_the_local_run(runs):
    client, base, local = runs
    local_files = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
    stored = keys(client, "chain")
    assert stored == local_files  # every file, nothing more: no run folder, no lease, no temp file left
    assert {k.split("/")[0] for k in stored} == {
        "raw_candles",
        "feature_windows",
        "folds",
        "normalization",
        "models",
        "metrics",
        "live_record",  # report_job scores the forecasts first (none here: an empty record)
        "reports",
        "trials",  # the report registers its record as a trial
        "fin_pipeline.yaml",  # the training configuration, written by the first training, read by every one
    }
    assert any(k.endswith(".png") for k in stored)
    for rel in sorted(stored):
        body = get(client, f"chain/{rel}")
        if rel.endswith(".pt"):
            assert_same_tensors(body, local / rel)
        elif rel.endswith(".parquet"):  # the content hash inside verifies on read
            tmp = base / "check.parquet"
            tmp.write_bytes(body)
            assert read_parquet(tmp)[0].equals(read_parquet(local / rel)[0]), rel
        elif rel.endswith(".json"):
            tmp = base / "check.json"
            tmp.write_bytes(body)
            assert read_json(tmp) == read_json(local / rel), rel
        elif rel.endswith(".yaml"):  # the training configuration: the same one for both stores
            assert body == (local / rel).read_bytes(), rel
        else:
            assert len(body) > 0
    # the report step ran with an empty cache: all it read came from the bucket
    cache_b = base / "cache_b"
    assert (cache_b / "metrics" / FOLDS[0] / "backtest.parquet").is_file()
    assert (cache_b / "models" / FOLDS[0] / "last.pt").is_file()


def test_a_fold_resumes_on_another_machine_from_the_last_pt_in_the_bucket(runs, monkeypatch):
    client, base, local = runs
    from fin_pipeline.training.trainer import Trainer

    root, cache = f"s3://{BUCKET}/resume", base / "resume_cache"
    for sub in ("feature_windows",):
        for p in (local / sub).iterdir():
            client.put_object(Bucket=BUCKET, Key=f"resume/{sub}/{p.name}", Body=p.read_bytes())
    real_fit, calls = Trainer.fit, []

    def preempted_after_epoch_1(self, epochs, *args, resume=False, **kw):
        calls.append((self.epoch, resume))
        if len(calls) == 1:
            real_fit(self, 1, *args, resume=resume, **kw)
            shutil.rmtree(cache / "models")  # the retry lands on a machine that never saw this run
            raise RuntimeError("simulated preemption after epoch 1")
        return real_fit(self, epochs, *args, resume=resume, **kw)

    monkeypatch.setattr(Trainer, "fit", preempted_after_epoch_1)
    result = run(make_defs(root, cache), "walk_forward_job", FOLDS[0], TRAIN)
    assert result.success, errors(result)
    assert calls == [(0, False), (0, True)]
    last = get(client, f"resume/models/{FOLDS[0]}/last.pt")
    assert [h["epoch"] for h in torch.load(io.BytesIO(last), weights_only=True)["history"]] == [1, 2]
    assert_same_tensors(last, local / "models" / FOLDS[0] / "last.pt")
    assert_same_tensors(get(client, f"resume/models/{FOLDS[0]}/best.pt"), local / "models" / FOLDS[0] / "best.pt")
    assert not any("/runs/" in k or k.endswith(LEASE_NAME) for k in keys(client, "resume"))


class CuttingProxy:
    """A TCP proxy to the S3 server that drops both sides of a connection once the client has sent more than
    ``limit`` bytes on it: an upload interrupted mid-body, as a lost machine or network would."""

    def __init__(self, port: int, limit: int):
        self.target, self.limit = port, limit
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.cut = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src, dst, count):
        sent = 0
        try:
            while data := src.recv(65536):
                if count and sent + len(data) > self.limit:
                    dst.sendall(data[: self.limit - sent])  # part of the body reaches the server, then nothing
                    self.cut += 1
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self):
        self.sock.close()


def test_an_interrupted_upload_leaves_no_object_under_the_key(s3, tmp_path):
    client, port = s3
    proxy = CuttingProxy(port, limit=1 << 20)
    try:
        store = S3Store(
            f"s3://{BUCKET}/cut", tmp_path, client_kwargs={"endpoint_url": f"http://127.0.0.1:{proxy.port}"}
        )
        small, big = tmp_path / "models" / "fold_00" / "best.pt", tmp_path / "models" / "fold_00" / "last.pt"
        small.parent.mkdir(parents=True)
        small.write_bytes(b"old version")
        store.push(small)  # small enough to pass
        small.write_bytes(os.urandom(4 << 20))  # the new version, 4 MB: cut after 1 MB
        big.write_bytes(os.urandom(4 << 20))
        for path in (small, big):
            with pytest.raises(StorageError, match=f"s3://{BUCKET}/cut/models/fold_00/"):
                store.push(path)
    finally:
        proxy.close()
    assert proxy.cut >= 2
    assert get(client, "cut/models/fold_00/best.pt") == b"old version"  # the previous object, whole
    assert keys(client, "cut") == {"models/fold_00/best.pt"}  # nothing under the interrupted new key


def test_a_second_writer_of_a_fold_is_refused_and_an_expired_lease_is_taken_over(runs, tmp_path):
    client, base, local = runs
    root = f"s3://{BUCKET}/chain"
    store = S3Store(root, base / "cache_a")
    before = get(client, f"chain/models/{FOLDS[1]}/best.pt")
    with store.lease(store.cache / "models" / FOLDS[1], owner="other-run", ttl=600):
        result = run(make_defs(root, base / "cache_a"), "walk_forward_job", FOLDS[1], TRAIN)
        assert not result.success
        message = errors(result)
        assert "the fold is being written by run other-run" in message and "refused" in message
        assert f"s3://{BUCKET}/chain/models/{FOLDS[1]}/{LEASE_NAME}" in message
    assert get(client, f"chain/models/{FOLDS[1]}/best.pt") == before  # untouched
    assert not any(f"{FOLDS[1]}/runs/" in k for k in keys(client, "chain"))
    assert LEASE_NAME not in {k.split("/")[-1] for k in keys(client, "chain")}  # released

    # An expired lease is taken over (If-Match on its ETag); the former holder then fails to renew.
    folder = tmp_path / "models" / "fold_09"
    other = S3Store(f"s3://{BUCKET}/lease", tmp_path)
    first = Lease(other, folder / LEASE_NAME, "run-a", ttl=0.2)
    first.acquire()
    with pytest.raises(LeaseError, match="being written by run run-a"):
        Lease(other, folder / LEASE_NAME, "run-b", ttl=60).acquire()
    time.sleep(0.3)
    second = Lease(other, folder / LEASE_NAME, "run-b", ttl=60)
    second.acquire()
    with pytest.raises(LeaseError, match="expired and was taken over"):
        first.renew()
    second.renew()
    second.release()
    assert keys(client, "lease") == set()


def test_a_missing_bucket_or_refused_credentials_give_one_error_naming_the_bucket(s3, tmp_path, monkeypatch):
    client, _ = s3
    buckets = {b["Name"] for b in client.list_buckets()["Buckets"]}
    result = run(make_defs("s3://no-such-bucket/data", tmp_path / "c1"), "candles_job", TICKERS[0], CANDLES)
    assert not result.success
    assert "S3 bucket 'no-such-bucket' of the data directory s3://no-such-bucket/data does not exist" in errors(result)
    assert len(result.get_step_failure_events()) == 1  # no retries of a hopeless step
    assert {b["Name"] for b in client.list_buckets()["Buckets"]} == buckets
    assert not any(p.is_file() for p in (tmp_path / "c1").rglob("*"))

    import moto.settings

    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # the server checks credentials now
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1")
    result = run(make_defs(f"s3://{BUCKET}/badcreds", tmp_path / "c2"), "candles_job", TICKERS[0], CANDLES)
    assert not result.success
    message = errors(result)
    assert f"S3 bucket '{BUCKET}' of the data directory s3://{BUCKET}/badcreds refused the credentials" in message
    assert "testing" not in message  # the secret key is never shown
    monkeypatch.undo()
    assert keys(client, "badcreds") == set()


def test_a_push_of_bytes_the_object_already_holds_sends_nothing(s3, puts, tmp_path):
    client, _ = s3
    store = S3Store(f"s3://{BUCKET}/same", tmp_path)
    path = tmp_path / "raw_candles" / "AAPL.parquet"
    path.parent.mkdir()
    path.write_bytes(b"candles " * 100)
    first = store.push(path)
    assert store.push(path) == first  # the same bytes: the object's ETag, nothing sent
    path.write_bytes(b"changed " * 100)
    store.push(path)
    assert puts == [("same/raw_candles/AAPL.parquet", 800)] * 2
    assert get(client, "same/raw_candles/AAPL.parquet") == b"changed " * 100
    # an object written without the digest (by the previous version): its ETag, the MD5 of its body, decides
    client.put_object(Bucket=BUCKET, Key="same/folds/old.json", Body=b"{}")
    old = tmp_path / "folds" / "old.json"
    old.parent.mkdir()
    old.write_bytes(b"{}")
    puts.clear()
    store.push(old)
    assert puts == []
    old.write_bytes(b"{ }")
    store.push(old)
    assert puts == [("same/folds/old.json", 3)]


def test_with_an_empty_cache_the_report_checks_the_stored_record_and_refuses_a_rewrite(runs, tmp_path):
    client, base, _ = runs
    for rel in keys(client, "chain"):  # a copy of the chain's data directory: the other tests keep theirs
        client.copy_object(Bucket=BUCKET, Key=f"cold/{rel}", CopySource={"Bucket": BUCKET, "Key": f"chain/{rel}"})
    stored_key = "cold/reports/oos_predictions.parquet"
    record = tmp_path / "oos_predictions.parquet"
    record.write_bytes(get(client, stored_key))
    frame, meta = read_parquet(record)

    # Nothing changed: a worker that never saw the data directory finds every stored day unchanged.
    result = run(make_defs(f"s3://{BUCKET}/cold", tmp_path / "empty_a"), "report_job")
    assert result.success, errors(result)
    said = result.asset_materializations_for_node("walk_forward_report")[0].metadata
    assert said["unchanged_rows"].value == len(frame) and said["added_rows"].value == 0

    # A day already reported comes back different (as after a fold retrained by accident): refused, nothing written.
    i = len(frame) // 2
    row = frame.iloc[i]
    frame.loc[frame.index[i], "model"] = row["model"] + 0.5
    write_parquet(frame, record, meta)
    client.put_object(Bucket=BUCKET, Key=stored_key, Body=record.read_bytes())
    before = {k: get(client, f"cold/{k}") for k in keys(client, "cold") if k.startswith("reports/")}
    result = run(make_defs(f"s3://{BUCKET}/cold", tmp_path / "empty_b"), "report_job")
    assert not result.success
    message = errors(result)
    assert "the out-of-sample record changed on a day already reported" in message
    assert f"{row['ticker']} on {row['date']:%Y-%m-%d}, model was {row['model'] + 0.5!r}" in message
    assert {k: get(client, f"cold/{k}") for k in keys(client, "cold") if k.startswith("reports/")} == before


def test_fin_pipeline_run_on_s3_prints_the_forecast_and_an_unchanged_rerun_uploads_nothing(s3, puts, tmp_path):
    client, _ = s3
    home, cache = make_home(tmp_path / "home"), tmp_path / "cache"
    env = env_for(
        home,
        FIN_PIPELINE_DATA_DIR=f"s3://{BUCKET}/cli",
        FIN_PIPELINE_CACHE_DIR=str(cache),
        FIN_PIPELINE_S3_ENDPOINT=os.environ["FIN_PIPELINE_S3_ENDPOINT"],
    )
    cmd = [str(BIN / "fin-pipeline"), "run", "--model", "cnn", "--epochs", "1", "--batch-size", "64"]
    first = subprocess.run(cmd, cwd=home, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    night = nyse_sessions(dt.date.fromisoformat(TINY["FIN_PIPELINE_END"]) + dt.timedelta(days=1), dt.date(2021, 7, 9))
    tickers = TINY["FIN_PIPELINE_UNIVERSE"].split(",")

    def assert_forecast_printed(out: str) -> None:
        assert f"Forecast for {night[0]:%Y-%m-%d} (data as of {TINY['FIN_PIPELINE_END']}" in out, out[-3000:]
        table = out[out.index("Forecast for") :].splitlines()
        header = next(i for i, line in enumerate(table) if line.split()[:2] == ["ticker", "prediction"])
        assert sorted(line.split()[0] for line in table[header + 2 : header + 2 + len(tickers)]) == sorted(tickers)
        assert f"Report: s3://{BUCKET}/cli/reports/report.md" in out
        assert not re.search(r"s3:/[^/]", out)  # no URL collapsed into a path

    assert_forecast_printed(first.stdout)
    assert puts and all(k.startswith("cli/") for k, _ in puts)
    stored = {
        o["Key"]: (o["ETag"], o["LastModified"])
        for o in client.list_objects_v2(Bucket=BUCKET, Prefix="cli/")["Contents"]
    }

    shutil.rmtree(cache)  # the rerun comes from a machine that never saw the data directory
    puts.clear()
    again = subprocess.run(cmd, cwd=home, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "up to date: nothing trained, nothing written" in again.stdout
    assert_forecast_printed(again.stdout)
    assert puts == []  # not one object uploaded
    after = client.list_objects_v2(Bucket=BUCKET, Prefix="cli/")["Contents"]
    assert {o["Key"]: (o["ETag"], o["LastModified"]) for o in after} == stored
