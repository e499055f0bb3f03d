"""custseg serve: a real uvicorn process on loopback, called with httpx, gives
the answers of ``Segmenter.predict``, the error codes of docs/activation.md,
enforces its API key, and loads a model file again when it changes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import warnings

import httpx
import numpy as np
import pandas as pd
import pytest
from tests.conftest import MALL_CSV

from custseg import ParameterError, load_model, save_model
from custseg.activation import parse_models
from custseg.errors import CustsegWarning
from custseg.pipeline import run

KEY = "s3cret-key"


def fit(k: int, algorithm: str = "kmeans"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CustsegWarning)
        return run(
            MALL_CSV, n_clusters=k, algorithm=algorithm, stability_resamples=0
        ).segmenter


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """``custseg serve`` with two models and an API key; its URL and files."""
    folder = tmp_path_factory.mktemp("serve")
    main, other = folder / "main.skops", folder / "gmm.skops"
    save_model(fit(5), main)
    save_model(fit(3, "gmm"), other)
    port = free_port()
    env = {**os.environ, "CUSTSEG_TEST_KEY": KEY}
    cmd = [sys.executable, "-m", "custseg", "serve", str(main)]
    cmd += ["--model", f"mixture={other}", "--port", str(port)]
    cmd += ["--api-key-env", "CUSTSEG_TEST_KEY", "--max-request-bytes", "200000"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    else:
        proc.kill()
        proc.wait(10)
        pytest.fail("custseg serve did not answer within 60 s")
    client = httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=30)
    yield client, main, other
    client.close()
    proc.terminate()
    proc.wait(10)
    if proc.stderr:
        proc.stderr.close()


def records(n: int = 200) -> list[dict]:
    df = pd.read_csv(MALL_CSV).head(n)
    return df.to_dict("records")


def test_predict_answers_as_the_model_does_in_json_and_csv(service):
    client, main, _ = service
    model = load_model(main)
    df = pd.read_csv(MALL_CSV)
    want = model.segment_numbers(model.predict(df)).tolist()
    got = client.post("/predict", json=records())
    assert got.status_code == 200, got.text
    body = got.json()
    assert [r["segment"] for r in body["segments"]] == want
    names = [model.segment_names_[i] for i in model.predict(df)]
    assert [r["segment_name"] for r in body["segments"]] == names
    csv = client.post(
        "/predict",
        content=df.to_csv(index=False).encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert csv.status_code == 200, csv.text
    assert [r["segment"] for r in csv.json()["segments"]] == want
    wrapped = client.post("/predict", json={"records": records(3)})
    assert [r["segment"] for r in wrapped.json()["segments"]] == want[:3]


def test_named_models_segments_health_and_docs(service):
    client, _, other = service
    mixture = load_model(other)
    got = client.post("/models/mixture/predict", json=records(50)).json()
    df = pd.read_csv(MALL_CSV).head(50)
    labels, confidence = mixture.predict_confidence(df)
    assert [r["segment"] for r in got["segments"]] == mixture.segment_numbers(
        labels
    ).tolist()
    # a mixture says how sure it is: the probability of the segment given
    served = [r["confidence"] for r in got["segments"]]
    np.testing.assert_allclose(served, confidence, atol=1e-6)
    assert all(0 < c <= 1 for c in served)
    kmeans = client.post("/predict", json=records(2)).json()["segments"]
    assert "confidence" not in kmeans[0]  # distances state no probability
    segments = client.get("/models/mixture/segments").json()["segments"]
    assert [s["name"] for s in segments] == list(mixture.segment_names_)
    assert sum(s["size"] for s in segments) == 200
    assert all(s["rule"]["text"] for s in segments)
    first = client.get("/segments").json()
    assert first["model"] == "main" and len(first["segments"]) == 5
    bare = httpx.get(str(client.base_url) + "/health").json()  # no key needed
    assert bare == {"status": "ok", "models": ["main", "mixture"]}  # no paths
    health = client.get("/health").json()
    assert set(health["models"]) == {"main", "mixture"}
    assert health["models"]["main"]["path"].endswith("main.skops")
    assert client.get("/docs").status_code == 200
    assert "/predict" in client.get("/openapi.json").json()["paths"]
    missing = client.post("/models/nope/predict", json=records(1))
    assert missing.status_code == 404 and "main, mixture" in missing.json()["detail"]


def test_bad_input_is_422_naming_the_column_and_record(service):
    client, _, _ = service
    rows = records(5)
    rows[2]["Age"] = "forty"
    bad = client.post("/predict", json=rows)
    assert bad.status_code == 422
    detail = bad.json()["detail"]
    assert detail["column"] == "Age" and detail["rows"] == [3]
    assert "forty" in detail["message"]
    gone = [{k: v for k, v in r.items() if k != "Age"} for r in records(2)]
    missing = client.post("/predict", json=gone)
    assert missing.status_code == 422 and "Age" in str(missing.json()["detail"])
    for body in (b"not json", b'{"a": 1}', b"[]"):
        res = client.post(
            "/predict", content=body, headers={"Content-Type": "application/json"}
        )
        assert res.status_code == 422, body
    nested = records(3)
    nested[1]["Gender"] = ["Male"]
    res = client.post("/predict", json=nested)
    assert res.status_code == 422
    assert (
        res.json()["detail"]["rows"] == [2]
        and res.json()["detail"]["column"] == "Gender"
    )
    # an unseen category is scored, and said
    odd = records(2)
    odd[0]["Gender"] = "FEMALE"
    said = client.post("/predict", json=odd).json()
    assert len(said["segments"]) == 2
    assert any("FEMALE" in w for w in said["warnings"])


def test_size_limit_and_api_key(service):
    client, _, _ = service
    big = records(200) * 20  # about 400 kB of JSON, over the 200 kB limit
    res = client.post("/predict", json=big)
    assert res.status_code == 413 and "smaller batches" in res.json()["detail"]

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(300):
            yield b" " * 1000

    streamed = client.post(
        "/predict", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    url = str(client.base_url)
    assert httpx.post(url + "/predict", json=records(1)).status_code == 401
    wrong = httpx.post(url + "/predict", json=records(1), headers={"X-API-Key": "x"})
    assert wrong.status_code == 401
    assert httpx.get(url + "/segments").status_code == 401


def test_a_changed_model_file_is_loaded_again_and_a_tampered_one_refused(service):
    client, main, _ = service
    before = client.get("/segments").json()["segments"]
    replacement = main.with_name("replacement.skops")
    save_model(fit(3), replacement)
    shutil.copyfile(replacement, main)  # a new model under the same name
    now = client.get("/segments").json()["segments"]
    assert len(before) == 5 and len(now) == 3
    # a damaged file is refused; the model loaded before keeps serving
    data = bytearray(main.read_bytes())
    data[len(data) // 2] ^= 0xFF
    main.write_bytes(bytes(data))
    assert len(client.get("/segments").json()["segments"]) == 3
    health = client.get("/health").json()["models"]["main"]
    assert "refused" in health["error"]
    shutil.copyfile(replacement, main)
    assert client.get("/health").json()["models"]["main"]["error"] is None


def test_model_names_and_a_missing_key_variable_are_checked(tmp_path, monkeypatch):
    assert list(parse_models(("a/seg.skops",), ("b=x.skops",))) == ["seg", "b"]
    with pytest.raises(ParameterError, match="NAME=PATH"):
        parse_models((), ("novalue",))
    with pytest.raises(ParameterError, match="letters, digits"):
        parse_models((), ("a/b=x.skops",))
    with pytest.raises(ParameterError, match="two models are named"):
        parse_models(("a/seg.skops", "b/seg.skops"), ())
    from click.testing import CliRunner

    from custseg.cli import cli

    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    model = tmp_path / "m.skops"
    save_model(fit(3), model)
    res = CliRunner().invoke(cli, ["serve", str(model), "--api-key-env", "NO_SUCH_KEY"])
    assert res.exit_code == 1 and "not set or empty" in res.output
    res = CliRunner().invoke(cli, ["serve", str(tmp_path / "none.skops")])
    assert res.exit_code == 1 and "Traceback" not in res.output
