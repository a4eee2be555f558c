"""BM25 over the index texts, grouped by HS6 code: the lexical half of hybrid search.

A small sentence model blurs product words it has rarely seen ("kalimba", "balaclava",
"LM8UU"); an exact word match on the enrichment terms catches them. Scores are scaled
to [0, 1] per query and added to the cosine with a small weight (measured on the dev
listings: HS4 top-1 +4 points, HS6 top-1 +4 points at weight 0.1).
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import zipfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["LexicalIndex", "lexical_version", "tokens"]

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an the and or of for with to in on by not other others than including excluding thereof whether nec "
    "be as at from kind used such".split()
)


def lexical_version() -> str:
    """Changes whenever tokenisation or scoring changes, so stored postings go stale."""
    import hashlib
    import inspect

    parts = [inspect.getsource(tokens), " ".join(sorted(_STOP)), inspect.getsource(LexicalIndex.__init__)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def tokens(text: str) -> list[str]:
    """Lower-cased words without stop words, with plural endings folded."""
    out = []
    for w in _WORD.findall(text.lower()):
        if len(w) < 2 or w in _STOP:
            continue
        if len(w) > 3 and w.endswith("ies"):
            w = w[:-3] + "y"
        elif len(w) > 3 and w.endswith("es") and w[-3] in "sxz":
            w = w[:-2]
        elif len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.append(w)
    return out


class LexicalIndex:
    """Okapi BM25 with one document per code (all its index texts together)."""

    def __init__(self, codes: Sequence[str], texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.codes = sorted(set(codes))
        self._id = {c: i for i, c in enumerate(self.codes)}
        docs: list[list[str]] = [[] for _ in self.codes]
        for code, text in zip(codes, texts, strict=True):
            docs[self._id[code]].extend(tokens(text))
        n = len(docs)
        lengths = np.array([len(d) for d in docs], dtype=np.float64)
        avg = float(lengths.mean()) if n else 1.0
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, doc in enumerate(docs):
            for word, tf in Counter(doc).items():
                postings[word].append((i, tf))
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for word, plist in postings.items():
            ids = np.array([p[0] for p in plist])
            tf = np.array([p[1] for p in plist], dtype=np.float64)
            idf = math.log(1 + (n - len(plist) + 0.5) / (len(plist) + 0.5))
            weight = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[ids] / avg))
            self._postings[word] = (ids, weight)
        self._n = n

    def save(self, path: Path, source: str) -> None:
        """Write the postings to ``path`` (atomically); ``source`` identifies the texts they
        were built from (the index recipe hash), so a stale file is never loaded."""
        words = list(self._postings)
        lengths = [len(self._postings[w][0]) for w in words]
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        ids = np.concatenate([self._postings[w][0] for w in words]).astype(np.int32) if words else np.zeros(0)
        weights = np.concatenate([self._postings[w][1] for w in words]) if words else np.zeros(0)
        fd, tmp = tempfile.mkstemp(prefix=".lexical.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, source=np.array(source), codes=np.array(self.codes), words=np.array(words),
                     indptr=indptr, ids=ids, weights=weights)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, source: str) -> LexicalIndex | None:
        """The index saved at ``path`` for ``source``, or None when absent, stale or unreadable."""
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["source"]) != source:
                    return None
                codes, words = data["codes"].tolist(), data["words"].tolist()
                indptr, ids, weights = data["indptr"], data["ids"].astype(np.intp), data["weights"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):  # a bad file is rebuilt, never trusted
            return None
        self = cls.__new__(cls)
        self.codes = codes
        self._id = {c: i for i, c in enumerate(codes)}
        self._postings = {w: (ids[indptr[i] : indptr[i + 1]], weights[indptr[i] : indptr[i + 1]])
                          for i, w in enumerate(words)}
        self._n = len(codes)
        return self

    def scores(self, text: str) -> np.ndarray:
        """BM25 of every code for ``text``, scaled so the best code scores 1 (all 0 when
        no word matches)."""
        out = np.zeros(self._n)
        # Sorted: a set's order changes with the process's hash seed, and float sums with
        # their order; a resumed batch must score every text to the same bit.
        for word in sorted(set(tokens(text))):
            hit = self._postings.get(word)
            if hit is not None:
                out[hit[0]] += hit[1]
        top = out.max() if self._n else 0.0
        return out / top if top > 0 else out

    def code_id(self, code: str) -> int | None:
        return self._id.get(code)
