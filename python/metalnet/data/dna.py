"""Generated DNA sequences with planted motifs: a genomics-style classification task.

Every sequence is drawn base by base, uniformly from A, C, G, T. Class 0 ('none') holds
sequences in which no motif occurs; class k holds a copy of motif k planted at a uniformly
random position (each planted base mutated with probability ``mutation_rate``), and no other
motif. A model must find a short pattern anywhere in the sequence, which is what the first
layer of a genomics CNN or an LSTM learns.
"""
from __future__ import annotations

import numpy as np

from .dataset import ArrayDataset

__all__ = ["dna_motifs", "one_hot_dna", "BASES"]

BASES = "ACGT"


def _codes(motif: str) -> np.ndarray:
    if not motif or set(motif) - set(BASES):
        raise ValueError(f"motifs must be non-empty strings over {BASES}, got {motif!r}")
    return np.array([BASES.index(b) for b in motif])


def _contains(seq: np.ndarray, motif: np.ndarray) -> bool:
    windows = np.lib.stride_tricks.sliding_window_view(seq, len(motif))
    return bool((windows == motif).all(axis=1).any())


def _sequence(rng, length, motifs, label, mutation_rate):
    """One sequence of class ``label``; redrawn until no unplanted motif occurs by chance."""
    while True:
        seq = rng.integers(0, 4, length)
        if label:
            motif = motifs[label - 1].copy()
            mutate = rng.random(len(motif)) < mutation_rate
            motif[mutate] = rng.integers(0, 4, mutate.sum())
            start = rng.integers(0, length - len(motif) + 1)
            seq[start:start + len(motif)] = motif
        others = [m for k, m in enumerate(motifs, 1) if k != label]
        if not any(_contains(seq, m) for m in others):
            return seq


def one_hot_dna(codes: np.ndarray) -> np.ndarray:
    """Base codes (..., L) in 0..3 -> one-hot float32 (..., L, 4)."""
    return np.eye(4, dtype=np.float32)[codes]


def dna_motifs(n=3000, length=30, motifs=("TATAAT",), mutation_rate=0.0, seed=0,
               encoding="onehot") -> ArrayDataset:
    """``n`` sequences, classes balanced: 'none' and one class per motif.

    encoding 'onehot': inputs (n, length, 4) float32 (LSTM layout; transpose to (n, 4, length)
    for a 1-D convolution); 'index': base codes (n, length) int64 for an Embedding.
    """
    codes = [_codes(m) for m in motifs]
    if max(len(c) for c in codes) > length:
        raise ValueError(f"length {length} is shorter than a motif")
    if encoding not in ("onehot", "index"):
        raise ValueError(f"encoding must be 'onehot' or 'index', got {encoding!r}")
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % (len(codes) + 1)
    rng.shuffle(labels)
    seqs = np.stack([_sequence(rng, length, codes, int(k), mutation_rate) for k in labels])
    inputs = one_hot_dna(seqs) if encoding == "onehot" else seqs.astype(np.int64)
    return ArrayDataset(inputs, labels.astype(np.int64), classes=["none", *motifs],
                        description=f"generated DNA, length {length}, planted motifs "
                                    f"{', '.join(motifs)} (seed {seed})")
