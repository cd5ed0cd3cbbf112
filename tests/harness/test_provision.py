"""Provisioning of host tools: what is missing, the apt-get command, the message without root."""

from __future__ import annotations

import pytest

from ci import provision, targets


def nothing(_name):
    return None


def test_everything_present_installs_nothing():
    done = provision.ensure_tools(
        targets.TARGETS,
        which=lambda n: f"/usr/bin/{n}",
        exists=lambda p: True,
        root=False,
        installer=lambda p: pytest.fail("must not install"),
    )
    assert done == []


def test_missing_tool_without_root_names_package_and_command():
    present = {"gcc", "mmdebstrap", "qemu-aarch64"}
    with pytest.raises(provision.ProvisionError) as err:
        provision.ensure_tools(
            [targets.get("aarch64-linux")],
            which=lambda n: f"/usr/bin/{n}" if n in present else None,
            exists=lambda p: True,
            root=False,
            installer=lambda p: pytest.fail("must not install"),
        )
    msg = str(err.value)
    assert "aarch64-linux-gnu-gcc: Debian package gcc-aarch64-linux-gnu" in msg
    assert "apt-get install -y gcc-aarch64-linux-gnu" in msg
    assert "qemu-user" not in msg  # present tools are not named


def test_missing_keyring_is_named_too():
    with pytest.raises(provision.ProvisionError, match="debian-archive-keyring"):
        provision.ensure_tools(
            [targets.get("armhf-linux")], which=lambda n: "/x", exists=lambda p: False, root=False
        )


def test_root_installs_each_missing_package_once():
    installed: set[str] = set()
    owner = {what: pkg for t in targets.TARGETS for what, pkg in provision.needs(t)}
    calls = []

    def which(name):
        return "/usr/bin/" + name if owner[name] in installed else None

    def installer(pkgs):
        calls.append(pkgs)
        installed.update(pkgs)

    done = provision.ensure_tools(
        targets.TARGETS,
        which=which,
        exists=lambda p: True,
        root=True,
        installer=installer,
        log=lambda s: None,
    )
    assert len(calls) == 1
    assert done == calls[0]
    assert len(done) == len(set(done))
    assert done.count("qemu-user") == 1
    commands = {pkg for what, pkg in owner.items() if not what.startswith("/")}
    assert set(done) == commands  # the files (the keyring) were there


def test_install_that_does_not_provide_the_tool_is_an_error():
    with pytest.raises(provision.ProvisionError, match="still missing"):
        provision.ensure_tools(
            [targets.get("x86_64-linux")],
            which=nothing,
            exists=lambda p: True,
            root=True,
            installer=lambda p: None,
            log=lambda s: None,
        )


def test_matrix_stops_with_the_command_when_tools_are_missing(tmp_path):
    from ci import matrix, reports

    def ensure(sel):
        raise provision.ProvisionError(
            provision.not_root_message([provision.Missing("qemu-arm", "qemu-user")])
        )

    lines: list[str] = []
    status, results = matrix.run_matrix(
        [targets.get("armhf-linux")], reports_dir=tmp_path, log=lines.append, ensure_tools=ensure
    )
    assert status == 2
    assert "sudo apt-get update && sudo apt-get install -y qemu-user" in "\n".join(lines)
    rows = reports.read_matrix(tmp_path)
    assert rows[0]["target"] == "armhf-linux" and rows[0]["ok"] is False
