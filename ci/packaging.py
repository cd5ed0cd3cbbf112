"""What the packages hold and what they are called: the pure rules behind `nox -s wheels`.

- The sdist holds every source the build needs and nothing else (:func:`check_sdist`):
  pyproject.toml, setup.py, MANIFEST.in, LICENSE, README.md, CHANGELOG.md, the package's
  modules with fiber/_build.py, and all of asm/, fiber/core/ and fiber/glue/ (setuptools adds
  PKG-INFO, setup.cfg and the egg-info). No tests/, ci/, docs/, no built objects.
- A wheel holds only the runtime (:func:`check_wheel`): :data:`RUNTIME` and one extension
  module, plus its .dist-info. Not fiber/_build.py (it builds from folders site-packages does
  not have) and not the C sources. setup.py leaves _build.py out of the wheel setuptools
  builds from the sdist; the harness's wheels take their runtime files from the sdist by the
  same rule (:func:`runtime_members`), so the two kinds of wheel hold the same files.
- Wheel names and tags (:func:`python_tag`, :func:`abi_tag`, :func:`linux_platform_tag`,
  :func:`wheel_name`), and whether ``auditwheel show`` agrees with a wheel's name
  (:func:`show_agrees`).
- :func:`write_wheel` packs a wheel (PEP 427: the files, then .dist-info with WHEEL and a
  RECORD of sha256 digests), reproducibly: fixed timestamps, sorted members.

Nothing here runs a tool or imports a third-party package: tests/harness/test_packaging.py
covers it all.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import re
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ci import paths

PYPROJECT = paths.ROOT / "pyproject.toml"
VERSION_FILE = paths.ROOT / "fiber" / "__init__.py"

# ---- what the packages hold -------------------------------------------------------------

# The runtime: what a wheel installs besides the extension module.
RUNTIME = ("fiber/__init__.py", "fiber/_glue.pyi", "fiber/aio.py", "fiber/py.typed")
# Parts of the package that only build it (in the sdist, never in a wheel).
BUILD_ONLY = ("fiber/_build.py", "fiber/core/", "fiber/glue/")
# Folders the sdist carries whole (every file the checkout has in them).
SDIST_TREES = ("asm", "fiber/core", "fiber/glue")
# Single files the sdist must carry.
SDIST_FILES = (
    "pyproject.toml",
    "setup.py",
    "MANIFEST.in",
    "LICENSE",
    "README.md",
    "CHANGELOG.md",
    "PKG-INFO",
    "fiber/_build.py",
    *RUNTIME,
)
# What setuptools adds to every sdist by itself.
SDIST_GENERATED = ("setup.cfg",)
SDIST_GENERATED_DIR_SUFFIX = ".egg-info"
# Never in any package.
BUILT_SUFFIXES = (".so", ".pyd", ".dll", ".o", ".obj", ".pyc", ".exe")

# What pip adds to an installed distribution's .dist-info (not part of the wheel).
PIP_ADDS = ("INSTALLER", "REQUESTED", "direct_url.json")

EXTENSION_RE = re.compile(r"^fiber/_native\.[A-Za-z0-9_.-]+\.(so|pyd)$")


def checkout_tree_files(root: Path = paths.ROOT) -> list[str]:
    """The files of :data:`SDIST_TREES` in the checkout, as sdist member names."""
    out: list[str] = []
    for tree in SDIST_TREES:
        for p in sorted((root / tree).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(BUILT_SUFFIXES):
                out.append(p.relative_to(root).as_posix())
    return out


def sdist_members(names: list[str]) -> list[str]:
    """Member names of an sdist tarball without its top folder (``name-version/``), files only."""
    out = []
    for n in names:
        _, _, rest = n.partition("/")
        if rest and not rest.endswith("/"):
            out.append(rest)
    return sorted(out)


def check_sdist(members: list[str], tree_files: list[str]) -> list[str]:
    """What is wrong with an sdist holding `members` (see :func:`sdist_members`); [] if all is
    well. `tree_files` are the checkout's files of the folders the sdist carries whole."""
    have = set(members)
    problems = [f"missing {f}" for f in (*SDIST_FILES, *tree_files) if f not in have]
    expected = {*SDIST_FILES, *tree_files, *SDIST_GENERATED}
    for m in sorted(have - expected):
        if m.endswith(BUILT_SUFFIXES):
            problems.append(f"a built file: {m}")
        elif "/" in m and m.split("/")[0].endswith(SDIST_GENERATED_DIR_SUFFIX):
            continue  # the egg-info setuptools writes
        elif m.startswith(tuple(f"{t}/" for t in SDIST_TREES)):
            problems.append(f"not in the checkout: {m}")
        else:
            problems.append(f"not needed by the build: {m}")
    return problems


def runtime_members(sdist: list[str]) -> list[str]:
    """The sdist's files that a wheel installs: the package less :data:`BUILD_ONLY`."""
    return sorted(
        m for m in sdist if m.startswith("fiber/") and not any(m.startswith(b) for b in BUILD_ONLY)
    )


def check_wheel(names: list[str], dist_info: str) -> list[str]:
    """What is wrong with a wheel holding `names` (its members); [] if all is well.

    `dist_info` is its .dist-info folder's name (``stackful_fiber-0.1.0.dist-info``).
    """
    problems: list[str] = []
    files = [n for n in names if not n.endswith("/")]
    meta = [n for n in files if n.startswith(f"{dist_info}/")]
    rest = sorted(set(files) - set(meta))
    extensions = [n for n in rest if EXTENSION_RE.match(n)]
    if len(extensions) != 1:
        problems.append(f"expected one extension module fiber/_native.*, found {extensions}")
    for f in RUNTIME:
        if f not in rest:
            problems.append(f"missing {f}")
    for n in rest:
        if n in RUNTIME or n in extensions:
            continue
        if any(n.startswith(b) for b in BUILD_ONLY) or n.endswith((".c", ".h", ".S")):
            problems.append(f"a build-only file: {n}")
        else:
            problems.append(f"not part of the runtime: {n}")
    for f in ("METADATA", "WHEEL", "RECORD"):
        if f"{dist_info}/{f}" not in meta:
            problems.append(f"missing {dist_info}/{f}")
    if not any(m.rsplit("/", 1)[-1] == "LICENSE" for m in meta):
        problems.append(f"no LICENSE in {dist_info}")
    return problems


# ---- names, versions, tags ----------------------------------------------------------------


def project_name(pyproject: Path = PYPROJECT) -> str:
    return tomllib.loads(pyproject.read_text())["project"]["name"]


def version(path: Path = VERSION_FILE) -> str:
    """``__version__`` of fiber/__init__.py (the one place it is written), read without
    importing the package."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            if isinstance(value, str):
                return value
    raise ValueError(f"no __version__ = '...' in {path}")


def normalized_dist(name: str) -> str:
    """The distribution's name as wheel and sdist file names spell it (PEP 427, PEP 625)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def python_tag(python_version: str) -> str:
    """``3.11.2`` -> ``cp311``: the CPython a wheel is for."""
    major, minor = python_version.split(".")[:2]
    return f"cp{major}{minor}"


def abi_tag(ext_suffix: str) -> str:
    """The ABI tag from an extension suffix: ``.cpython-311-aarch64-linux-gnu.so`` -> ``cp311``,
    ``.cpython-313t-x86_64-linux-gnu.so`` -> ``cp313t``, ``.cp311-win_amd64.pyd`` -> ``cp311``."""
    m = re.match(r"^\.(?:cpython-|cp)(\d+[a-z]*)[-.]", ext_suffix)
    if not m:
        raise ValueError(f"not a CPython extension suffix: {ext_suffix!r}")
    return f"cp{m.group(1)}"


def python_of_abi(abi: str) -> str:
    """The CPython tag of an ABI tag: ``cp311`` -> ``cp311``, ``cp313t`` -> ``cp313``."""
    m = re.match(r"^(cp\d+)", abi)
    if not m:
        raise ValueError(f"not a CPython ABI tag: {abi!r}")
    return m.group(1)


def linux_platform_tag(machine: str) -> str:
    """The platform tag of a Linux wheel before auditwheel: ``linux_`` + what
    platform.machine() says in the target's Python (``linux_aarch64``, ``linux_armv7l``)."""
    return "linux_" + re.sub(r"[^A-Za-z0-9]", "_", machine)


def platform_tag(sysconfig_platform: str) -> str:
    """A platform tag from sysconfig.get_platform(): ``win-amd64`` -> ``win_amd64``."""
    return re.sub(r"[^A-Za-z0-9]", "_", sysconfig_platform)


@dataclass(frozen=True)
class Tag:
    python: str
    abi: str
    platform: str  # one or more platform tags joined by "."

    def __str__(self) -> str:
        return f"{self.python}-{self.abi}-{self.platform}"

    @property
    def platforms(self) -> list[str]:
        return self.platform.split(".")

    @property
    def python_version(self) -> str:
        """``cp311`` -> ``3.11`` (pip's --python-version)."""
        digits = self.python.removeprefix("cp")
        return f"{digits[0]}.{digits[1:]}"


def wheel_name(dist: str, version: str, tag: Tag) -> str:
    return f"{normalized_dist(dist)}-{version}-{tag}.whl"


def parse_wheel_name(filename: str) -> tuple[str, str, Tag]:
    """``dist-version-py-abi-platform.whl`` -> (dist, version, Tag); no build tag here."""
    stem = Path(filename).name.removesuffix(".whl")
    parts = stem.split("-")
    if len(parts) != 5:
        raise ValueError(f"not a wheel file name of five parts: {filename!r}")
    dist, ver, py, abi, plat = parts
    return dist, ver, Tag(py, abi, plat)


# The legacy manylinux names and the glibc each stands for (PEP 600's aliases).
_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def canonical_platform(tag: str) -> str:
    """``manylinux2014_aarch64`` -> ``manylinux_2_17_aarch64``; other tags unchanged."""
    for legacy, (major, minor) in _LEGACY.items():
        if tag.startswith(legacy + "_"):
            return f"manylinux_{major}_{minor}_{tag[len(legacy) + 1 :]}"
    return tag


def show_agrees(wheel_filename: str, shown_tag: str) -> bool:
    """Whether the platform tag ``auditwheel show`` reports (its "overall_tag") is one the
    wheel's name carries (legacy aliases count as their PEP 600 names)."""
    _, _, tag = parse_wheel_name(wheel_filename)
    return canonical_platform(shown_tag) in {canonical_platform(p) for p in tag.platforms}


def pip_target_args(tag: Tag) -> list[str]:
    """pip's arguments that install a wheel of `tag` for a Python other than the one running
    pip (``pip install --target DIR ...``): every platform tag of the wheel, its CPython."""
    args: list[str] = []
    for p in tag.platforms:
        args += ["--platform", p]
    return [
        *args,
        "--python-version",
        tag.python_version,
        "--implementation",
        "cp",
        "--abi",
        tag.abi,
        "--only-binary=:all:",
        "--no-deps",
    ]


# ---- packing a wheel ----------------------------------------------------------------------

# Members' timestamp: a fixed one, so the same inputs give the same wheel.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
GENERATOR = "fiber-harness (ci/packaging.py)"


def record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def wheel_file_text(tag: Tag, generator: str = GENERATOR) -> str:
    lines = ["Wheel-Version: 1.0", f"Generator: {generator}", "Root-Is-Purelib: false"]
    lines += [f"Tag: {tag.python}-{tag.abi}-{p}" for p in tag.platforms]
    return "\n".join(lines) + "\n"


def write_wheel(
    out_dir: Path,
    dist: str,
    version: str,
    tag: Tag,
    files: dict[str, bytes],
    dist_info_files: dict[str, bytes],
) -> Path:
    """Pack a wheel into `out_dir` and return its path.

    `files` are the installed files by their path in site-packages; `dist_info_files` the
    .dist-info's files by their path inside it (METADATA, licenses/LICENSE, top_level.txt, as
    the build backend's prepare_metadata_for_build_wheel wrote them). WHEEL and RECORD are
    written here. Executable bits go to shared objects only.
    """
    dist_info = f"{normalized_dist(dist)}-{version}.dist-info"
    members = dict(sorted(files.items()))
    meta = {f"{dist_info}/{k}": v for k, v in sorted(dist_info_files.items())}
    meta[f"{dist_info}/WHEEL"] = wheel_file_text(tag).encode()
    record_path = f"{dist_info}/RECORD"
    rows = [f"{name},{record_hash(data)},{len(data)}" for name, data in {**members, **meta}.items()]
    rows.append(f"{record_path},,")
    meta[record_path] = ("\n".join(rows) + "\n").encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / wheel_name(dist, version, tag)
    partial = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in {**members, **meta}.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            mode = 0o755 if name.endswith((".so", ".pyd")) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    partial.replace(path)
    return path


def wheel_members(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return zf.namelist()


def human_size(n: int) -> str:
    """``123456`` -> ``121 KiB`` (the summary table's column)."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"
