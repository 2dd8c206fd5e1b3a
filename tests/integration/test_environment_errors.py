"""Bad input to the harness ends with one clear message naming the component and what to do."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from scoutly.testing.env import LocalEnv, check_binaries, locate_binaries
from scoutly.testing.procs import ComponentError, Proc


def test_missing_binary_names_component_and_fix(tmp_path: Path) -> None:
    with pytest.raises(ComponentError) as err:
        check_binaries(tmp_path)
    assert "kube-apiserver" in str(err.value) and "make testenv" in str(err.value)
    with pytest.raises(ComponentError) as err:
        Proc("etcd", [str(tmp_path / "etcd")], tmp_path / "etcd.log").start()
    assert str(err.value).startswith("etcd:") and "make testenv" in str(err.value)


def test_busy_port_reports_the_component_log(tmp_path: Path) -> None:
    bin_dir = locate_binaries()
    check_binaries(bin_dir)
    env = LocalEnv(workdir=tmp_path, bin_dir=bin_dir)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ComponentError) as err:
            env._start_ferretdb(port)
    env.stop()
    text = str(err.value)
    assert text.startswith(f"ferretdb: port {port} on 127.0.0.1 is busy")
    assert env.procs == []  # nothing was started against someone else's server
