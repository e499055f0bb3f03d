"""``custseg serve`` against ``Segmenter.predict`` in-process, in the same run.

Usage::

    python benchmarks/serve.py [--requests 300] [--batches 30] [--batch-rows 1000]

The model is K-Means (k = 5) on the bundled mall table, saved and served by a
real ``custseg serve`` process on loopback; httpx calls it over one kept-alive
connection. Two rows of figures, each against the same work done by
``Segmenter.predict`` in this process on a DataFrame:

- single-record latency: one record per request, p50 and p99 over
  ``--requests`` requests (after ten to warm up);
- batch throughput: ``--batch-rows`` records per request (JSON, encoded
  once, as the baseline's DataFrame is built once), rows per second over
  ``--batches`` requests.

Target (issue 23): the service within 3x of in-process for batches. Single
records pay HTTP and JSON on every call, so their ratio is shown, not judged.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-rows", type=int, default=1000)
    args = parser.parse_args()

    import httpx
    import orjson

    from custseg import load_mall_customers, save_model
    from custseg.errors import CustsegWarning
    from custseg.pipeline import run

    warnings.simplefilter("ignore", CustsegWarning)
    mall = load_mall_customers()
    model = run(mall, n_clusters=5, stability_resamples=0).segmenter
    rng = np.random.default_rng(0)
    batch = mall.iloc[rng.integers(0, len(mall), args.batch_rows)].reset_index(
        drop=True
    )
    batch_records = batch.to_dict("records")
    one = mall.iloc[[0]].reset_index(drop=True)
    one_record = one.to_dict("records")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.skops"
        save_model(model, path)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "custseg", "serve", str(path), "--port", str(port)],
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            client = httpx.Client(base_url=url, timeout=60)
            for _ in range(600):
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            single = _times(
                lambda: client.post("/predict", json=one_record), args.requests
            )
            local_single = _times(lambda: model.predict(one), args.requests)
            # the body encoded once, as the in-process baseline gets its
            # DataFrame built: each side's own cost is what is timed
            body = orjson.dumps(batch_records)
            json_type = {"Content-Type": "application/json"}
            batches = _times(
                lambda: client.post("/predict", content=body, headers=json_type),
                args.batches,
            )
            local_batches = _times(lambda: model.predict(batch), args.batches)
            check = client.post("/predict", json=batch_records).json()["segments"]
            got = [r["segment"] for r in check]
            want = model.segment_numbers(model.predict(batch)).tolist()
            assert got == want, "the service and predict disagree"
            client.close()
        finally:
            proc.terminate()
            proc.wait(10)

    def p(values: np.ndarray, q: float) -> float:
        return float(np.percentile(values, q)) * 1000

    rows_service = args.batch_rows / float(np.median(batches))
    rows_local = args.batch_rows / float(np.median(local_batches))
    print()
    print("| what | service | in-process predict | ratio | target |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| one record, p50 | {p(single, 50):.1f} ms | {p(local_single, 50):.1f} ms "
        f"| {p(single, 50) / p(local_single, 50):.1f}x | - |"
    )
    print(
        f"| one record, p99 | {p(single, 99):.1f} ms | {p(local_single, 99):.1f} ms "
        f"| {p(single, 99) / p(local_single, 99):.1f}x | - |"
    )
    ratio = rows_local / rows_service
    print(
        f"| {args.batch_rows:,}-record batches | {rows_service:,.0f} rows/s "
        f"| {rows_local:,.0f} rows/s | {ratio:.2f}x | within 3x: "
        f"{'met' if ratio <= 3 else 'NOT met'} |"
    )
    print()
    print(
        f"{args.requests} single-record requests and {args.batches} batches, one "
        "kept-alive connection, after ten warm-up calls each; the service's "
        "answers checked against predict."
    )


def _times(call, n: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    for _ in range(10):
        call()
    out = np.empty(n)
    for i in range(n):
        start = time.perf_counter()
        result = call()
        out[i] = time.perf_counter() - start
        status = getattr(result, "status_code", 200)
        if status != 200:
            raise SystemExit(f"the service answered {status}: {result.text[:200]}")
    return out


if __name__ == "__main__":
    main()
