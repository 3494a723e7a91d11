"""Loading a ``.graphc`` file never runs code, and a hostile or damaged file is refused with an error
naming what is wrong: not a zip, truncated, members out of place, declared sizes too large, unknown
classes, weights of the wrong shape, dtype or set, JSON nested too deep, a link or a FIFO at the path."""
import json
import os
import re
import struct
import tokenize
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors

import graphc as gc
from graphc.errors import CheckpointError

ROOT = Path(gc.__file__).parent
LOADER = [ROOT / "saving" / name for name in ("__init__.py", "archive.py", "model_files.py", "registry.py")] + [
    ROOT / "checkpoint_files.py", ROOT / "checkpoints.py", ROOT / "layers" / "serialization.py"]


def _code(path) -> str:
    """The source of ``path`` without its comments and string literals (docstrings may say "no pickle")."""
    with open(path, "rb") as f:
        tokens = [t for t in tokenize.tokenize(f.readline) if t.type not in (tokenize.COMMENT, tokenize.STRING)]
    return " ".join(t.string for t in tokens)


def test_the_loader_has_no_way_to_run_code():
    for path in LOADER:
        source = _code(path)
        assert "import" in source  # the filter left the code
        for pattern in (r"pickle", r"\beval\s*\(", r"\bexec\s*\(", r"importlib", r"__import__", r"import_module",
                        r"\bmarshal\b", r"\bshelve\b", r"getattr\(\s*(sys\.)?modules"):
            assert not re.search(pattern, source), f"{path.name} mentions {pattern}"


@pytest.fixture
def saved(tmp_path):
    model = gc.Sequential([gc.Input(shape=(3,)), gc.layers.Dense(2)])
    model.compile("adam", "mse")
    model.fit(np.ones((4, 3), np.float32), np.ones((4, 2), np.float32), verbose=0)
    return Path(model.save(tmp_path / "good.graphc"))


def members_of(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rewrite(path, members, stored=("model.weights.safetensors",)):
    """Writes ``members`` (name -> bytes) as a zip archive at ``path``."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data, zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED)
    return path


def refused(path, pattern, **kwargs):
    with pytest.raises(CheckpointError, match=pattern):
        gc.models.load_model(path, **kwargs)


def test_not_a_zip_and_truncated(saved, tmp_path):
    (tmp_path / "text.graphc").write_bytes(b"hello, not a model\n")
    refused(tmp_path / "text.graphc", "text.graphc is not a zip archive")
    (tmp_path / "empty.graphc").write_bytes(b"")
    refused(tmp_path / "empty.graphc", "is not a zip archive")
    data = saved.read_bytes()
    for cut in (len(data) // 3, len(data) - 10):
        (tmp_path / "cut.graphc").write_bytes(data[:cut])
        refused(tmp_path / "cut.graphc", "cut.graphc is truncated or corrupt")
    refused(tmp_path / "absent.graphc", "does not exist")


def test_a_flipped_byte_in_the_weights_fails_the_crc(saved):
    members = members_of(saved)
    data = bytearray(saved.read_bytes())
    start = data.find(members["model.weights.safetensors"][-16:])
    data[start] ^= 0xFF
    saved.write_bytes(bytes(data))
    refused(saved, "member 'model.weights.safetensors' is corrupt or truncated.*CRC")


@pytest.mark.parametrize("name", ["../evil.json", "/etc/passwd", "a/../../b", "C:evil", "dir\\evil"])
def test_path_traversal_in_member_names(saved, name):
    refused(rewrite(saved, members_of(saved) | {name: b"{}"}), "is path traversal")


def test_members_missing_extra_or_twice(saved):
    members = members_of(saved)
    refused(rewrite(saved, members | {"payload.py": b"import os"}), "'payload.py' are not members of a graphc model")
    refused(rewrite(saved, {k: v for k, v in members.items() if k != "config.json"}), "'config.json' are missing")
    rewrite(saved, members)
    with zipfile.ZipFile(saved, "a") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile's "Duplicate name"
        archive.writestr("config.json", b"{}")
    refused(saved, "'config.json' appear more than once")


def _patch_declared_size(path, name, size):
    """Rewrites the uncompressed size ``name`` declares in its local and central headers."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        while at >= 0:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at:name_at + len(encoded)] == encoded:
                data[at + offset:at + offset + 4] = struct.pack("<I", size)
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


def test_huge_declared_sizes_are_refused_before_inflating(saved):
    rewrite(saved, members_of(saved))
    _patch_declared_size(saved, "config.json", 0xFFFFFF00)
    refused(saved, r"member 'config.json' declares 4294967040 bytes, more than the 67108864")


def test_the_weights_must_be_stored_so_no_bomb_hides_there(saved):
    refused(rewrite(saved, members_of(saved), stored=()), "'model.weights.safetensors' must be stored uncompressed")


def test_a_safetensors_header_declaring_huge_tensors(saved):
    header = json.dumps({"dense/kernel": {"dtype": "F32", "shape": [100000, 100000], "data_offsets": [0, 40000000000]}})
    forged = struct.pack("<Q", len(header)) + header.encode() + b"\0" * 64
    refused(rewrite(saved, members_of(saved) | {"model.weights.safetensors": forged}), "not a valid safetensors file")
    huge_header = struct.pack("<Q", 1 << 60) + b"{}"
    refused(rewrite(saved, members_of(saved) | {"model.weights.safetensors": huge_header}), "not a valid safetensors file")


def _with_weights(saved, change):
    members = members_of(saved)
    weights = dict(load_tensors(members["model.weights.safetensors"]))
    change(weights)
    return rewrite(saved, members | {"model.weights.safetensors": save_tensors(weights)})


def _kernel_key(weights):
    return next(k for k in weights if k.endswith("kernel") and not k.startswith("optimizer"))


def test_weights_of_the_wrong_shape_dtype_or_set(saved):
    def shape(w):
        w[_kernel_key(w)] = np.zeros((4, 2), np.float32)

    def dtype(w):
        w[_kernel_key(w)] = w[_kernel_key(w)].astype(np.float64)

    def missing(w):
        del w[_kernel_key(w)]

    def extra(w):
        w["model/layers/7/kernel"] = np.zeros(3, np.float32)

    good = saved.read_bytes()
    for change, pattern in ((shape, r"shape or dtype differs.*kernel: checkpoint f32\[4,2\], object f32\[3,2\]"),
                            (dtype, r"kernel: checkpoint f64\[3,2\], object f32\[3,2\]"),
                            (missing, r"in the objects, not in the checkpoint \(1\): model/.*kernel"),
                            (extra, r"in the checkpoint, not in the objects \(1\): model/layers/7/kernel")):
        saved.write_bytes(good)
        refused(_with_weights(saved, change), pattern)


def _with_config(saved, change):
    members = members_of(saved)
    config = json.loads(members["config.json"])
    change(config)
    return rewrite(saved, members | {"config.json": json.dumps(config).encode()})


def test_unknown_class_names_anywhere_in_the_config(saved):
    good = saved.read_bytes()
    refused(_with_config(saved, lambda c: c.update(class_name="os.system")), r"unknown model class 'os.system'")
    saved.write_bytes(good)
    refused(_with_config(saved, lambda c: c["config"]["layers"][1].update(class_name="subprocess.Popen")),
            r"unknown layer class 'subprocess.Popen'")
    saved.write_bytes(good)
    refused(_with_config(saved, lambda c: c["compile_config"]["optimizer"].update(class_name="Evil")),
            r"unknown optimizer class 'Evil'")
    saved.write_bytes(good)
    refused(_with_config(saved, lambda c: c["compile_config"].update(loss="builtins.eval")),
            r"unknown loss 'builtins.eval'")
    saved.write_bytes(good)
    refused(_with_config(saved, lambda c: c["config"]["layers"][1]["config"].update(units=-3)),
            r"config cannot be loaded: .*units")
    saved.write_bytes(good)
    refused(_with_config(saved, lambda c: c["config"]["layers"][1]["config"].update(evil_kwarg=1)),
            r"cannot make the layer 'Dense' from its config.*evil_kwarg")
    saved.write_bytes(good)
    refused(_with_config(saved, lambda c: c.update(config=[1, 2])), r"config of model 'Sequential' must be a dict")


def test_json_nesting_bombs_and_bad_metadata(saved):
    members = members_of(saved)
    refused(rewrite(saved, members | {"config.json": b"[" * 50000 + b"]" * 50000}), "nests 50000 levels deep")
    refused(rewrite(saved, members | {"config.json": b'{"a": "[[[[[[", "class_name": 5}'}), "class_name")
    refused(rewrite(saved, members | {"metadata.json": b'{"format": "keras"}'}), "is not a graphc model file")
    refused(rewrite(saved, members | {"metadata.json": b'{"format": "graphc-model", "format_version": 99}'}),
            "format version 99")
    refused(rewrite(saved, members | {"config.json": b'{"class_name": "Sequ'}), "not valid JSON")


def test_links_fifos_and_directories_at_the_path(saved, tmp_path):
    link = tmp_path / "link.graphc"
    link.symlink_to(saved)
    refused(link, "link.graphc is a symbolic link")
    fifo = tmp_path / "fifo.graphc"
    os.mkfifo(fifo)
    refused(fifo, "is not a regular file: it is a FIFO")  # returns at once: never blocks on the FIFO
    (tmp_path / "dir.graphc").mkdir()
    refused(tmp_path / "dir.graphc", "is not a regular file: it is a directory")
    loaded = gc.models.load_model(saved)  # the untouched file still loads
    assert loaded.optimizer.iterations.numpy() == 1


def test_random_damage_is_refused_or_harmless(saved, tmp_path):
    """Bytes overwritten, cut off or inserted anywhere: loading either succeeds (a byte zip does not
    check, such as a date) with the same predictions, or raises CheckpointError; never anything else."""
    good, damaged = saved.read_bytes(), tmp_path / "damaged.graphc"
    expected = gc.models.load_model(saved).predict(np.ones((2, 3), np.float32), verbose=0)
    rng = np.random.default_rng(0)
    outcomes = {"refused": 0, "loaded": 0}
    for _ in range(300):
        data = bytearray(good)
        kind = rng.integers(3)
        if kind == 0:
            for at in rng.integers(0, len(data), rng.integers(1, 4)):
                data[at] = rng.integers(256)
        elif kind == 1:
            data = data[:rng.integers(len(data))]
        else:
            at = int(rng.integers(len(data)))
            data[at:at] = rng.integers(0, 256, rng.integers(1, 9)).astype(np.uint8).tobytes()
        damaged.write_bytes(bytes(data))
        try:
            model = gc.models.load_model(damaged)
        except CheckpointError:
            outcomes["refused"] += 1
            continue
        outcomes["loaded"] += 1
        np.testing.assert_array_equal(model.predict(np.ones((2, 3), np.float32), verbose=0), expected)
    assert outcomes["refused"] > 250, outcomes
