"""The tracks.json format: records round trip, the JSON Schema, nulls, atomic write, validated read."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from infra.errors import UserError
from pipeline import records
from pipeline.export.tracks_json import load_schema, read_tracks_json, validate_tracks_dict, write_tracks_json
from pipeline.records import BoxRecord, CameraRecord, IdentityRecord, LinkRecord, TrackletRecord, TracksFile


def _tracks() -> TracksFile:
    boxes = (
        BoxRecord(10, 0.4, (1.5, 2.0, 30.25, 80.0), 0.91),
        BoxRecord(11, 0.44, (2.5, 2.0, 31.25, 80.0), None),
    )
    tracklet_a = TrackletRecord("cam_a", 3, 10, 11, 0.4, 0.44, boxes)
    tracklet_b = TrackletRecord(
        "cam_b", 1, 40, 40, 1.6, 1.6, (BoxRecord(40, 1.6, (0.0, 0.0, 10.0, 20.0), 1.0),), LinkRecord(0.8, 1.5)
    )
    return TracksFile(
        cameras=(
            CameraRecord("cam_a", "sample_videos/cam_a.mp4", 25.0, 360, 480, 179),
            CameraRecord("cam_b", "rtsp://host/stream", None, None, None, None),
        ),
        identities=(
            IdentityRecord(1, (tracklet_a, tracklet_b)),
            IdentityRecord(2, (TrackletRecord("cam_a", 4, 10, 11, 0.4, 0.44, boxes),)),
        ),
    )


def _doc() -> dict[str, Any]:
    return _tracks().to_dict()


def test_round_trip_through_file(tmp_path: Path) -> None:
    path = tmp_path / "tracks.json"
    write_tracks_json(path, _tracks())
    back = read_tracks_json(path)
    assert back == _tracks()
    assert back.cameras[1].fps is None
    assert back.identities[0].tracklets[0].boxes[1].score is None
    assert (
        back.identities[0].tracklets[0].link is None and "link" not in _doc()["identities"][0]["tracklets"][0]
    )
    assert back.identities[0].tracklets[1].link == LinkRecord(0.8, 1.5)


def test_to_dict_casts_numpy_scalars_to_plain_json() -> None:
    np = pytest.importorskip("numpy")
    box = BoxRecord(np.int64(3), np.float32(0.12), tuple(np.float32([1, 2, 3, 4])), np.float64(0.5))
    data = box.to_dict()
    assert type(data["frame"]) is int and type(data["time_s"]) is float
    assert all(type(v) is float for v in data["xyxy"]) and type(data["score"]) is float
    json.dumps(data)  # no numpy type left


def test_missing_values_are_null_never_empty_string(tmp_path: Path) -> None:
    path = tmp_path / "tracks.json"
    write_tracks_json(path, _tracks())
    text = path.read_text(encoding="utf-8")
    assert '""' not in text
    cam_b = json.loads(text)["cameras"][1]
    assert cam_b == {"cam_id": "cam_b", "source": "rtsp://host/stream", "fps": None, "width": None,
                     "height": None, "num_frames": None, "gaps": [], "frames_dropped": 0,
                     "end": "ended", "error": None}  # fmt: skip
    assert '"fps": null' in text


def test_written_file_validates_against_the_shipped_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    path = tmp_path / "tracks.json"
    write_tracks_json(path, _tracks())
    jsonschema.Draft202012Validator.check_schema(load_schema())
    jsonschema.Draft202012Validator(load_schema()).validate(json.loads(path.read_text(encoding="utf-8")))


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Copy of ``doc`` with the value at slash-separated ``path`` replaced (``_DEL`` deletes it)."""
    doc = copy.deepcopy(doc)
    *parents, last = path.split("/")
    node: Any = doc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    key: Any = int(last) if isinstance(node, list) else last
    if value is _DEL:
        del node[key]
    else:
        node[key] = value
    return doc


_DEL = object()
BOX = "identities/0/tracklets/0/boxes/0"
TRACKLET = "identities/0/tracklets/0"
LINKED = "identities/0/tracklets/1"


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        ("schema_version", 4, "schema_version"),
        ("complete", _DEL, "(root)"),
        ("complete", "yes", "complete"),
        ("cameras/0/gaps", _DEL, "cameras/0"),
        ("cameras/0/gaps", [{"t_from_s": 1.0, "t_to_s": 2.0}], "cameras/0/gaps/0"),
        ("cameras/0/gaps", [{"t_from_s": -1.0, "t_to_s": 2.0, "reason": "x"}], "cameras/0/gaps/0/t_from_s"),
        ("cameras/0/frames_dropped", -1, "cameras/0/frames_dropped"),
        ("cameras/0/end", "crashed", "cameras/0/end"),
        ("cameras/0/error", _DEL, "cameras/0"),
        ("schema_version", _DEL, "(root)"),
        ("cameras", _DEL, "(root)"),
        ("identities", _DEL, "(root)"),
        ("extra_key", 1, "(root)"),
        ("cameras/0/cam_id", "", "cameras/0/cam_id"),
        ("cameras/0/fps", "", "cameras/0/fps"),  # a missing value is null, never ""
        ("cameras/0/fps", 0, "cameras/0/fps"),
        ("cameras/0/width", 360.5, "cameras/0/width"),
        ("cameras/0/num_frames", -1, "cameras/0/num_frames"),
        ("cameras/0/height", _DEL, "cameras/0"),
        ("identities/0/global_id", 0, "identities/0/global_id"),
        ("identities/0/global_id", "1", "identities/0/global_id"),
        ("identities/0/tracklets", [], "identities/0/tracklets"),
        (f"{TRACKLET}/track_id", 0, f"{TRACKLET}/track_id"),
        (f"{TRACKLET}/start_frame", -1, f"{TRACKLET}/start_frame"),
        (f"{TRACKLET}/t_end_s", None, f"{TRACKLET}/t_end_s"),
        (f"{TRACKLET}/boxes", _DEL, TRACKLET),
        (f"{BOX}/frame", 1.5, f"{BOX}/frame"),
        (f"{BOX}/xyxy", [1, 2, 3], f"{BOX}/xyxy"),
        (f"{BOX}/xyxy", [1, 2, 3, 4, 5], f"{BOX}/xyxy"),
        (f"{BOX}/score", 1.5, f"{BOX}/score"),
        (f"{BOX}/score", "", f"{BOX}/score"),
        (f"{BOX}/score", _DEL, BOX),
        (f"{BOX}/time_s", -0.1, f"{BOX}/time_s"),
        (f"{LINKED}/link/score", 1.5, f"{LINKED}/link/score"),
        (f"{LINKED}/link/margin_logodds", _DEL, f"{LINKED}/link"),
        (f"{LINKED}/link/extra", 1, f"{LINKED}/link"),
    ],
)
def test_schema_rejects_bad_documents(path: str, value: Any, where: str) -> None:
    doc = _set(_doc(), path, value)
    with pytest.raises(UserError) as info:
        validate_tracks_dict(doc, source="out/tracks.json")
    message = str(info.value)
    assert message.startswith("out/tracks.json: not a valid tracks file at ")
    assert f" at {where}:" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("identities", []),  # no one seen
        ("cameras/0/fps", None),
        ("cameras/0/fps", 29.97),
        (f"{BOX}/score", None),
        (f"{BOX}/score", 0),
        (f"{TRACKLET}/boxes", []),
        ("cameras/0/num_frames", 0),
        (f"{LINKED}/link", None),
        (f"{LINKED}/link", _DEL),  # optional: only associators that know it write it
        (f"{LINKED}/link/margin_logodds", None),
    ],
)
def test_schema_accepts_good_documents(path: str, value: Any) -> None:
    validate_tracks_dict(_set(_doc(), path, value))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        ("{bad json", "invalid JSON at line 1"),
        ("[]", "top level must be a JSON object"),
        ('{"schema_version": 1}', "not a valid tracks file"),
        (b"\xff\xfe\x00", "cannot read"),
    ],
)
def test_read_errors_name_the_file(tmp_path: Path, content: str | bytes | None, message: str) -> None:
    path = tmp_path / "tracks.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError) as info:
        read_tracks_json(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["identities"][0]["tracklets"][0].update(cam_id="cam_z"), "camera not in 'cameras'"),
        (lambda d: d["identities"][1].update(global_id=1), "global_id 1 appears twice"),
        (lambda d: d["identities"][1]["tracklets"][0].update(track_id=3), "appears twice"),
        (lambda d: d["identities"][0]["tracklets"][0].update(start_frame=12), "ends before it starts"),
        (lambda d: d["identities"][0]["tracklets"][0].update(t_end_s=0.1), "ends before it starts"),
        (lambda d: d["cameras"][1].update(cam_id="cam_a"), "duplicate cam_id"),
    ],
)
def test_read_rejects_inconsistent_files(tmp_path: Path, edit: Any, message: str) -> None:
    doc = _doc()
    edit(doc)
    path = tmp_path / "tracks.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(UserError, match=message) as info:
        read_tracks_json(path)
    assert str(info.value).startswith(f"{path}: ")


def test_atomic_write_leaves_no_file_on_failure(tmp_path: Path) -> None:
    bad = TracksFile(cameras=(CameraRecord("cam_a", "a.mp4", math.nan, 1, 1, 1),))  # NaN is not JSON
    path = tmp_path / "tracks.json"
    with pytest.raises(ValueError):
        write_tracks_json(path, bad)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_the_old_file_when_the_rename_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tracks.json"
    write_tracks_json(path, _tracks())
    before = path.read_bytes()

    def boom(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_tracks_json(path, TracksFile(cameras=()))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["tracks.json"]  # no temporary left behind


def test_schema_version_constant_matches_the_schema() -> None:
    assert load_schema()["properties"]["schema_version"]["enum"] == list(records.READABLE_VERSIONS)
    assert max(records.READABLE_VERSIONS) == records.SCHEMA_VERSION
    assert load_schema()["properties"]["cameras"]["items"]["properties"]["end"]["enum"] == list(
        records.CAMERA_ENDS
    )


def test_a_version_1_file_is_read_as_a_complete_run_without_gaps(tmp_path: Path) -> None:
    doc = _doc()
    doc["schema_version"] = 1
    del doc["complete"]
    for cam in doc["cameras"]:
        for key in ("gaps", "frames_dropped", "end", "error"):
            del cam[key]
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    back = read_tracks_json(path)
    assert back == _tracks() and back.complete and back.cameras[0].gaps == ()
    assert back.to_dict()["schema_version"] == 3  # always written as the current version


@pytest.mark.parametrize("version", [1, 2, 3])
def test_every_readable_version_reads_tracked_boxes_as_not_interpolated(tmp_path: Path, version: int) -> None:
    doc = _doc()
    doc["schema_version"] = version
    path = tmp_path / "v.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    boxes = [b for i in read_tracks_json(path).identities for t in i.tracklets for b in t.boxes]
    assert boxes and not any(b.interpolated for b in boxes)


@pytest.mark.parametrize(("value", "ok"), [(True, True), (False, True), ("yes", False), (1, False)])
def test_the_interpolated_flag_must_be_a_boolean(value: Any, ok: bool) -> None:
    doc = _set(_doc(), f"{BOX}/interpolated", value)
    if ok:
        validate_tracks_dict(doc)
    else:
        with pytest.raises(UserError, match="interpolated"):
            validate_tracks_dict(doc)


@pytest.mark.parametrize("version", [2, 3])
def test_a_version_2_or_3_file_needs_the_new_fields(version: int) -> None:
    doc = _doc()
    doc["schema_version"] = version
    del doc["complete"]
    with pytest.raises(UserError, match="complete"):
        validate_tracks_dict(doc)


def test_gaps_and_a_failed_camera_round_trip(tmp_path: Path) -> None:
    import dataclasses

    tracks = _tracks()
    cam = dataclasses.replace(
        tracks.cameras[1],
        gaps=(records.GapRecord(1.5, 4.0, "read timeout"), records.GapRecord(9.0, None, "stream ended")),
        frames_dropped=12,
        end="failed",
        error="rtsp://host/stream: gave up after 3 reconnects",
    )
    tracks = dataclasses.replace(tracks, cameras=(tracks.cameras[0], cam), complete=False)
    path = tmp_path / "tracks.json"
    write_tracks_json(path, tracks)
    assert read_tracks_json(path) == tracks
