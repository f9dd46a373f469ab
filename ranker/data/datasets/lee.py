"""The Lee corpus: 50 news documents with human similarity ratings of every pair.

Lee, Pincombe & Welsh (2005): 50 short ABC news documents (45–126 words), each
pair rated for similarity on a 1–5 scale by several people; the score is the
mean rating divided by 5, so scores lie in [0.2, 1]. They are skewed low (mean
0.33, median 0.28): most pairs are unrelated stories. Three distinct pairs
(0–13, 2–37, 24–25: follow-ups of the same story) are rated 1.0.

The files ship in gensim's test data: ``gensim==4.4.0``,
``gensim/test/test_data/lee.cor`` (latin-1, one document a line) and
``similarities0-1.txt`` (a 50×50 tab-separated matrix).
"""

from __future__ import annotations

from pathlib import Path

from ranker.data.datasets.packaged import PackagedFile, read_packaged_file
from ranker.data.labelled import ScoredPair

LEE_DOCUMENTS = PackagedFile(
    package="gensim",
    version="4.4.0",
    member="gensim/test/test_data/lee.cor",
    sha256="a878f9a58f6743c32985c56c2f2f75988386216b38a4023a01fd3bcf7884d93e",
)
LEE_SIMILARITIES = PackagedFile(
    package="gensim",
    version="4.4.0",
    member="gensim/test/test_data/similarities0-1.txt",
    sha256="23762bc6b728897144dda3d324a2c032dc1e059e1009806226d64b6dd123ed79",
)

LEE_BACKGROUND = PackagedFile(
    package="gensim",
    version="4.4.0",
    member="gensim/test/test_data/lee_background.cor",
    sha256="5d78d6dafd953bbf65797bef09a9ffb9ec430583381be705f8fd460000f370fb",
)


def load_lee_background(cache: str | Path = "data/cache") -> list[str]:
    """The 300 unrated ABC news articles that ship beside the Lee corpus (gensim's LSA
    training text), one a line; none is one of the 50 rated documents (checked by
    the real-data test).

    Example (downloads the gensim wheel once: shown, not run)::

        len(load_lee_background())  # 300
    """
    raw = read_packaged_file(LEE_BACKGROUND, cache).decode("latin-1")
    return [line.strip() for line in raw.split("\n") if line.strip()]


def load_lee(cache: str | Path = "data/cache") -> tuple[list[str], list[ScoredPair]]:
    """The 50 Lee documents and the 1,225 scored pairs between them.

    Args:
        cache: where the gensim wheel is downloaded (git-ignored; any platform's
            wheel will do, the files inside are the same).

    Returns:
        ``(documents, pairs)``: the documents in file order, and one
        :class:`ScoredPair` per pair ``i < j`` with ``a_id=str(i)``,
        ``b_id=str(j)`` (0-based positions in ``documents``), in row order.

    Raises:
        FetchError: the download failed or a file does not match its pin.

    Example (downloads the gensim wheel once: shown, not run)::

        documents, pairs = load_lee()
        len(documents), len(pairs), pairs[0].a_id, pairs[0].b_id  # (50, 1225, '0', '1')
    """
    # The ratings were collected in latin-1 (one document holds a pound sign).
    raw = read_packaged_file(LEE_DOCUMENTS, cache).decode("latin-1")
    documents = [line.strip() for line in raw.split("\n") if line.strip()]
    matrix = [
        [float(cell) for cell in line.split("\t")]
        for line in read_packaged_file(LEE_SIMILARITIES, cache).decode("ascii").split("\n")
        if line.strip()
    ]
    # The matrix is upper-triangular: ones on the diagonal, each pair's rating
    # above it and zeros below (checked on the pinned file). Reading only j > i
    # takes every rating once; a symmetric matrix would read the same way.
    return documents, [
        ScoredPair(documents[i], documents[j], matrix[i][j], str(i), str(j))
        for i in range(len(documents))
        for j in range(i + 1, len(documents))
    ]
