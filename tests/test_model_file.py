"""A model file that was damaged or tampered with is refused, never loaded.

Each test takes a real ``model.skops`` written by ``custseg run`` (a skops zip:
``schema.json``, one ``.npy`` per array, and custseg's integrity record),
changes it the way damage or an attacker would, and checks that loading raises
:class:`ModelFileError` naming the file and what is wrong, and that
``custseg predict`` says ``Error:`` and exits 1 without a traceback.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from click.testing import CliRunner

from custseg import ModelFileError, load_model
from custseg.cli import cli
from custseg.datasets import mall_customers_path
from custseg.model._persist import INTEGRITY_MEMBER

Members = dict[str, bytes]


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """model.skops from ``custseg run`` on the mall customers."""
    out = tmp_path_factory.mktemp("run")
    result = CliRunner().invoke(
        cli,
        ["run", "--stability-resamples", "0", "--no-report", "-q", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    return out / "model.skops"


@pytest.fixture
def model(saved, tmp_path) -> Path:
    """A private copy of the saved model, to damage."""
    return Path(shutil.copy(saved, tmp_path / "model.skops"))


def members(path: Path) -> Members:
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def rezip(path: Path, edit: Callable[[Members], Members], *, reseal: bool) -> Path:
    """Unpack ``path``, apply ``edit`` to its members and pack it again, as
    someone with a zip tool would. ``reseal``: also rewrite the integrity
    record to match (a forger who knows the format)."""
    content = edit(members(path))
    if reseal:
        content.pop(INTEGRITY_MEMBER, None)
        digests = {n: hashlib.sha256(b).hexdigest() for n, b in content.items()}
        content[INTEGRITY_MEMBER] = json.dumps({"sha256": digests}).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in content.items():
            zf.writestr(name, data)
    return path


def schema_edit(
    change: Callable[[dict[str, Any]], None],
) -> Callable[[Members], Members]:
    """An edit of the model state in ``schema.json``."""

    def edit(content: Members) -> Members:
        schema = json.loads(content["schema.json"])
        change(schema["content"])
        content["schema.json"] = json.dumps(schema).encode()
        return content

    return edit


def node(obj: Any) -> dict[str, Any]:
    """How skops writes ``obj`` into schema.json."""
    with zipfile.ZipFile(io.BytesIO(sio.dumps({"x": obj}))) as zf:
        return json.loads(zf.read("schema.json"))["content"]["x"]


def array_file(state: dict[str, Any], *keys: str) -> str:
    entry: dict[str, Any] = {"content": state}
    for key in keys:
        entry = entry["content"][key]
    return str(entry["file"])


def refused(path: Path, match: str) -> str:
    with pytest.raises(ModelFileError, match=match) as caught:
        load_model(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    return message


def predict_says_error(model: Path, tmp_path: Path, match: str) -> None:
    scored = tmp_path / "scored.csv"
    result = CliRunner().invoke(
        cli, ["predict", str(model), str(mall_customers_path()), "-o", str(scored)]
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"Error: {model}: "), result.stderr
    assert match in result.stderr
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    assert not scored.exists()


def test_a_saved_model_carries_an_integrity_record(saved):
    content = members(saved)
    record = json.loads(content.pop(INTEGRITY_MEMBER))["sha256"]
    assert record == {n: hashlib.sha256(b).hexdigest() for n, b in content.items()}
    assert "schema.json" in record and any(n.endswith(".npy") for n in record)
    load_model(saved)


UNTRUSTED = {
    "builtins.eval": eval,
    "posix.system": os.system,
    "subprocess.Popen": subprocess.Popen,
}


@pytest.mark.parametrize("reseal", [False, True], ids=["edited", "forged"])
@pytest.mark.parametrize("name", sorted(UNTRUSTED))
def test_an_untrusted_type_in_the_schema_is_refused(model, tmp_path, name, reseal):
    def inject(state: dict[str, Any]) -> None:
        state["source"] = node(UNTRUSTED[name])

    rezip(model, schema_edit(inject), reseal=reseal)
    if reseal:
        message = refused(model, "refused to load: the file contains types")
        assert name in message and "tampered with" in message
        predict_says_error(model, tmp_path, name)
    else:
        refused(model, r"changed since custseg saved it .*schema\.json")


def test_a_pickled_object_array_is_refused(model, tmp_path):
    """An .npy with dtype object is a pickle: numpy refuses to load it."""
    payload = io.BytesIO()
    np.save(payload, np.array([{"a": 1}, print], dtype=object), allow_pickle=True)

    def swap(content: Members) -> Members:
        state = json.loads(content["schema.json"])["content"]
        content[array_file(state, "centers")] = payload.getvalue()
        return content

    rezip(model, swap, reseal=True)
    refused(model, "not a readable custseg model .*allow_pickle=False")
    predict_says_error(model, tmp_path, "Object arrays cannot be loaded")


def _data_offset(path: Path, member: str) -> tuple[int, int]:
    """Where ``member``'s bytes start in the file, and how many there are."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        header = struct.unpack("<4s5H3L2H", fh.read(30))
    return info.header_offset + 30 + header[9] + header[10], info.compress_size


def test_a_byte_flipped_in_an_array_is_caught_by_the_crc(model, tmp_path):
    state = json.loads(members(model)["schema.json"])["content"]
    start, size = _data_offset(model, array_file(state, "centers"))
    data = bytearray(model.read_bytes())
    data[start + size - 3] ^= 0x40  # inside the last float
    model.write_bytes(bytes(data))
    refused(model, r"not a readable custseg model \(BadZipFile: Bad CRC-32")
    predict_says_error(model, tmp_path, "Bad CRC-32")


def test_an_array_changed_and_rezipped_is_caught_by_the_integrity_record(
    model, tmp_path
):
    """The zip's CRC-32 is recomputed by any zip tool; the record is not."""

    def shift(content: Members) -> Members:
        state = json.loads(content["schema.json"])["content"]
        name = array_file(state, "predictor", "centers")
        centers = np.load(io.BytesIO(content[name]))
        buffer = io.BytesIO()
        np.save(buffer, centers + 0.5)
        content[name] = buffer.getvalue()
        return content

    rezip(model, shift, reseal=False)
    message = refused(model, r"changed since custseg saved it \(1 part\(s\)")
    assert ".npy" in message and "re-create it with 'custseg run'" in message
    predict_says_error(model, tmp_path, "changed since custseg saved it")


@pytest.mark.parametrize("share", [0.0, 0.1, 0.5, 0.99])
def test_a_truncated_file_is_refused(model, tmp_path, share):
    data = model.read_bytes()
    model.write_bytes(data[: int(len(data) * share)])
    refused(model, "not a readable custseg model")
    predict_says_error(model, tmp_path, "not a readable custseg model")


def test_features_that_do_not_match_the_preparation_are_refused(model, tmp_path):
    def drop_income(state: dict[str, Any]) -> None:
        numeric = state["numeric"]["content"]
        numeric[:] = [n for n in numeric if "Income" not in n["content"]]

    rezip(model, schema_edit(drop_income), reseal=True)
    refused(
        model,
        r"damaged model file: its features \(Age, Spending Score \(1-100\), Gender\) "
        r"are not those its preparation was fitted on \(Age, Annual Income",
    )
    predict_says_error(model, tmp_path, "are not those its preparation")


def test_segment_counts_that_disagree_are_refused(model):
    def drop_profile(state: dict[str, Any]) -> None:
        state["profiles"]["content"].pop()

    rezip(model, schema_edit(drop_profile), reseal=True)
    refused(model, r"it has 6 segment centroids but 5 profiles and 6 segment")


def test_a_label_map_pointing_outside_the_segments_is_refused(model):
    def widen(content: Members) -> Members:
        state = json.loads(content["schema.json"])["content"]
        name = array_file(state, "label_map")
        buffer = io.BytesIO()
        np.save(buffer, np.load(io.BytesIO(content[name])) + 7)
        content[name] = buffer.getvalue()
        return content

    rezip(model, widen, reseal=True)
    refused(model, "its label map points outside the 6 segments")


def test_a_missing_part_is_refused(model, tmp_path):
    def drop(state: dict[str, Any]) -> None:
        del state["centers"]

    rezip(model, schema_edit(drop), reseal=True)
    refused(model, r"damaged model file: a part is missing .*KeyError: no 'centers'")
    predict_says_error(model, tmp_path, "no 'centers'")


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("format_version", "99", "model format version 99 is not supported"),
        ("format", '"other-model"', "not a custseg model file"),
    ],
)
def test_an_unknown_format_is_refused(model, tmp_path, key, value, match):
    def change(state: dict[str, Any]) -> None:
        state[key]["content"] = value

    rezip(model, schema_edit(change), reseal=True)
    refused(model, match)
    predict_says_error(model, tmp_path, match)


def test_a_zip_bomb_is_refused_before_it_is_unpacked(model, tmp_path):
    bomb = zipfile.ZipFile(model, "a", zipfile.ZIP_DEFLATED, compresslevel=1)
    with bomb, bomb.open("padding.json", "w", force_zip64=True) as fh:
        zeros = bytes(1 << 20)
        for _ in range(100):  # 100 MiB that deflate to under 1 MiB
            fh.write(zeros)
    assert model.stat().st_size < 2 << 20
    refused(model, r"refused to load: its members unpack to 1\d\d,\d{3},\d{3} bytes")
    predict_says_error(model, tmp_path, "a zip bomb?")


@pytest.mark.parametrize("record", [b"[]", b"{}", b"not json", b'{"sha256": 1}'])
def test_a_malformed_integrity_record_is_refused(model, record):
    def spoil(content: Members) -> Members:
        content[INTEGRITY_MEMBER] = record
        return content

    rezip(model, spoil, reseal=False)
    refused(model, r"not a readable custseg model \((ValueError|JSONDecodeError)")


def test_a_member_stored_twice_is_refused(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: duplicate name
        with zipfile.ZipFile(model, "a") as zf:
            zf.writestr("schema.json", "{}")
    refused(model, "the archive holds 'schema.json' twice")


def test_other_files_are_refused(tmp_path):
    for name, data in {
        "empty.skops": b"",
        "text.skops": b"not a zip",
        "other.skops": _zip({"notes.txt": b"hello"}),
    }.items():
        path = tmp_path / name
        path.write_bytes(data)
        refused(path, "not a (readable )?custseg model")
    refused(tmp_path / "absent.skops", "no such model file")


def _zip(content: Members) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in content.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_a_file_without_the_integrity_record_still_loads(saved, model):
    """Files saved by earlier custseg releases have no record: they load,
    with the other checks."""

    def drop(content: Members) -> Members:
        del content[INTEGRITY_MEMBER]
        return content

    rezip(model, drop, reseal=False)
    mall = pd.read_csv(mall_customers_path())
    np.testing.assert_array_equal(
        load_model(model).predict(mall), load_model(saved).predict(mall)
    )


def test_a_version_2_file_still_loads(saved, model):
    """Version 2 (K-Means only, before algorithms, rules and the integrity
    record): the centroids predict."""
    version_3_only = ["algorithm", "predictor", "label_map", "segment_ids"]
    version_3_only += ["max_segment_id", "predict_agreement", "stability", "rules"]

    def downgrade(content: Members) -> Members:
        del content[INTEGRITY_MEMBER]
        schema = json.loads(content["schema.json"])
        schema["content"]["format_version"]["content"] = "2"
        for key in version_3_only:
            del schema["content"][key]
        content["schema.json"] = json.dumps(schema).encode()
        return content

    rezip(model, downgrade, reseal=False)
    old, new = load_model(model), load_model(saved)
    assert old.algorithm_ == "kmeans" and old.rules_ == ()
    mall = pd.read_csv(mall_customers_path())
    np.testing.assert_array_equal(old.predict(mall), new.predict(mall))


def test_a_previous_model_that_was_tampered_with_stops_the_run(model, tmp_path):
    rezip(model, schema_edit(lambda s: s.update(source=node(eval))), reseal=True)
    result = CliRunner().invoke(
        cli,
        ["run", "--previous", str(model), "-o", str(tmp_path / "out"), "-q"],
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {model}: refused to load")
    assert not (tmp_path / "out" / "segments.csv").exists()


def test_a_model_from_another_table_names_the_missing_columns(tmp_path):
    """Not a damaged file: the data lack the model's features."""
    other = tmp_path / "other.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"Recency": rng.normal(size=60), "Spend": rng.normal(size=60)}).to_csv(
        other, index=False
    )
    out = tmp_path / "out"
    runner = CliRunner()
    done = runner.invoke(
        cli, ["run", str(other), "-o", str(out), "-q", "--no-report", "-k", "2"]
    )
    assert done.exit_code == 0, done.output
    result = runner.invoke(
        cli,
        [
            "predict",
            str(out / "model.skops"),
            str(mall_customers_path()),
            "-o",
            str(tmp_path / "scored.csv"),
        ],
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert "no columns named 'Recency', 'Spend'" in result.stderr
    assert "Traceback" not in result.output
