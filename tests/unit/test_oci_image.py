"""The pause image archive (scoutly.testing.oci): a valid OCI image layout whose digests match."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from scoutly.testing.oci import single_binary_image


def test_archive_is_a_consistent_oci_layout(tmp_path: Path) -> None:
    binary = tmp_path / "pause"
    binary.write_bytes(b"\x7fELF not really")
    archive = tmp_path / "img.tar"
    single_binary_image(binary, "localhost/scoutly-pause:dev", archive)

    with tarfile.open(archive) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, data in files.items():  # every blob is stored under its own digest
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    entry = json.loads(files["index.json"])["manifests"][0]
    assert entry["annotations"]["io.containerd.image.name"] == "localhost/scoutly-pause:dev"
    manifest = json.loads(files[f"blobs/sha256/{entry['digest'][7:]}"])
    config = json.loads(files[f"blobs/sha256/{manifest['config']['digest'][7:]}"])
    assert config["config"]["Entrypoint"] == ["/pause"]
    layer = files[f"blobs/sha256/{manifest['layers'][0]['digest'][7:]}"]
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(layer)) as lt:
        (member,) = lt.getmembers()
        assert member.name == "pause" and member.mode == 0o755
        assert lt.extractfile(member).read() == binary.read_bytes()  # type: ignore[union-attr]
