"""Provisioning of host tools: what is missing, the apt-get command, the message without root."""

from __future__ import annotations

import pytest

from ci import provision, targets, tools


def nothing(_name):
    return None


def provided_or_usr_bin(name):
    """Every tool present: the harness's own copy for those of other suites."""
    provided = any(w == name and "/" in p for t in targets.TARGETS for w, p in t.tools)
    return str(tools.cache_bin() / name) if provided else f"/usr/bin/{name}"


def test_everything_present_installs_nothing():
    done = provision.ensure_tools(
        targets.TARGETS,
        which=provided_or_usr_bin,
        exists=lambda p: True,
        current=lambda what, pkg: True,
        root=False,
        installer=lambda p: pytest.fail("must not install"),
    )
    assert done == []


def test_missing_tool_without_root_names_package_and_command():
    present = {"gcc", "mmdebstrap", "qemu-aarch64"}
    with pytest.raises(provision.ProvisionError) as err:
        provision.ensure_tools(
            [targets.get("aarch64-linux-py3.14")],
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
            [targets.get("armhf-linux-py3.11")],
            which=lambda n: "/x",
            exists=lambda p: False,
            root=False,
        )


def test_root_installs_each_missing_package_once():
    installed: set[str] = set()
    owner = {what: pkg for t in targets.TARGETS for what, pkg in provision.needs(t)}
    calls = []
    from_suites: list[list[provision.Missing]] = []

    def which(name):
        return provided_or_usr_bin(name) if owner[name] in installed else None

    def installer(pkgs):
        calls.append(pkgs)
        installed.update(pkgs)

    def suite_installer(missing):
        from_suites.append(missing)
        installed.update(m.package for m in missing)

    done = provision.ensure_tools(
        targets.TARGETS,
        which=which,
        exists=lambda p: True,
        current=lambda what, pkg: True,
        root=True,
        installer=installer,
        suite_installer=suite_installer,
        log=lambda s: None,
    )
    assert len(calls) == 1 and len(from_suites) == 1
    assert done == calls[0] + provision.packages_of(from_suites[0])
    assert len(done) == len(set(done))
    assert done.count("qemu-user") == 1
    commands = {pkg for what, pkg in owner.items() if not what.startswith("/")}
    assert set(done) == commands  # the files (the keyring) were there
    # apt-get gets only the host suite's packages; the others are made in the cache
    assert all("/" not in p for p in calls[0])
    assert {m.package for m in from_suites[0]} == {
        "gcc-14-loongarch64-linux-gnu,libc6-dev-loong64-cross/trixie",
        "binutils-loongarch64-linux-gnu/trixie",
        "qemu-user/bookworm-backports",
    }


def test_a_host_command_of_the_same_name_does_not_stand_for_the_other_suites_tool():
    """bookworm's /usr/bin/qemu-loongarch64 is there, but the table wants bookworm-backports'."""
    missing = provision.missing_for(
        [targets.get("loongarch64-linux-py3.14")], which=lambda n: f"/usr/bin/{n}"
    )
    assert provision.Missing("qemu-loongarch64", "qemu-user/bookworm-backports") in missing


def test_a_provided_tool_made_from_an_older_package_set_is_missing_again():
    """A package added to the table for a suite (the loongarch64 compiler's C library) remakes
    that suite's chroot: the commands made before are out of date."""
    t = [targets.get("loongarch64-linux-py3.14")]
    missing = provision.missing_for(t, which=provided_or_usr_bin, current=lambda w, p: False)
    assert {m.what for m in missing} == {w for w, p in t[0].tools if "/" in p}
    assert provision.missing_for(t, which=provided_or_usr_bin, current=lambda w, p: True) == []


def test_tools_of_other_suites_without_root_say_what_and_how():
    present = {"mmdebstrap", "ccache"}
    with pytest.raises(provision.ProvisionError) as err:
        provision.ensure_tools(
            [targets.get("loongarch64-linux-py3.14")],
            which=lambda n: f"/usr/bin/{n}" if n in present else None,
            exists=lambda p: True,
            root=False,
        )
    msg = str(err.value)
    assert "qemu-loongarch64: Debian package qemu-user of bookworm-backports" in msg
    assert (
        "loongarch64-linux-gnu-gcc: Debian package gcc-14-loongarch64-linux-gnu,"
        "libc6-dev-loong64-cross of trixie" in msg
    )
    assert "apt-get install" not in msg  # nothing of the host's suite is missing
    assert "sudo python3 -m ci provision" in msg


def test_install_that_does_not_provide_the_tool_is_an_error():
    with pytest.raises(provision.ProvisionError, match="still missing"):
        provision.ensure_tools(
            [targets.get("x86_64-linux-py3.11")],
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
        [targets.get("armhf-linux-py3.11")],
        reports_dir=tmp_path,
        log=lines.append,
        ensure_tools=ensure,
    )
    assert status == 2
    assert "sudo apt-get update && sudo apt-get install -y qemu-user" in "\n".join(lines)
    rows = reports.read_matrix(tmp_path)
    assert rows[0]["target"] == "armhf-linux-py3.11" and rows[0]["ok"] is False
