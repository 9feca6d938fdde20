"""metalnet.data: datasets, splits, the DataLoader and the file loaders."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import metalnet
from metalnet import data

pytest.importorskip("sklearn")
pytest.importorskip("skimage")


def test_digits_views():
    small, big = data.digits(), data.digits(size=28)
    assert small.inputs.shape == (1797, 1, 8, 8) and big.inputs.shape == (1797, 1, 28, 28)
    assert small.inputs.dtype == np.float32 and small.targets.dtype == np.int64
    assert 0 <= big.inputs.min() and big.inputs.max() <= 1
    assert small.classes == tuple("0123456789")
    # The upsampled view keeps each image's mean brightness (bilinear preserves averages).
    np.testing.assert_allclose(big.inputs.mean(axis=(2, 3)), small.inputs.mean(axis=(2, 3)),
                               atol=0.03)


def test_breast_cancer_and_standardize():
    ds = data.breast_cancer()
    assert ds.inputs.shape == (569, 30) and ds.classes == ("malignant", "benign")
    train, test = data.split(ds, (0.8, 0.2), seed=1)
    train_s, test_s = data.standardize(train, test)
    np.testing.assert_allclose(train_s.inputs.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(train_s.inputs.std(axis=0), 1, atol=1e-3)
    assert test_s.inputs.dtype == np.float32 and test_s.targets is test.targets


def test_pathology_labels_follow_the_stain():
    ds = data.pathology_patches()
    assert ds.inputs.shape == (256, 3, 32, 32) and ds.classes == ("dab_negative", "dab_positive")
    assert 0.3 < ds.targets.mean() < 0.7
    # DAB is brown: positive patches are redder than blue relative to negative ones.
    red_minus_blue = ds.inputs[:, 0].mean(axis=(1, 2)) - ds.inputs[:, 2].mean(axis=(1, 2))
    assert red_minus_blue[ds.targets == 1].mean() > red_minus_blue[ds.targets == 0].mean()
    assert len(data.pathology_patches(size=16, stride=16)) == 1024


def _has(seq, motif):
    text = "".join(data.dna.BASES[i] for i in seq)
    return motif in text


def test_dna_motifs_are_planted_only_in_their_class():
    ds = data.dna_motifs(n=300, length=40, motifs=("TATAAT", "GATTACA"), seed=3)
    assert ds.inputs.shape == (300, 40, 4) and ds.classes == ("none", "TATAAT", "GATTACA")
    codes = ds.inputs.argmax(axis=2)
    assert np.bincount(ds.targets).tolist() == [100, 100, 100]
    for seq, label in zip(codes, ds.targets):
        assert _has(seq, "TATAAT") == (label == 1) and _has(seq, "GATTACA") == (label == 2)
    again = data.dna_motifs(n=300, length=40, motifs=("TATAAT", "GATTACA"), seed=3)
    np.testing.assert_array_equal(again.inputs, ds.inputs)
    index = data.dna_motifs(n=10, encoding="index")
    assert index.inputs.dtype == np.int64 and index.inputs.shape == (10, 30)


def test_temporal_order_markers_give_the_class():
    ds = data.temporal_order(n=400, length=30, seed=2, encoding="index")
    for seq, label in zip(ds.inputs, ds.targets):
        markers = [s for s in seq if s in (4, 5)]
        assert len(markers) == 2 and (markers[0] - 4) * 2 + (markers[1] - 4) == label
        assert seq[0] == 6 and seq[-1] == 7


def test_split_is_seeded_disjoint_and_stratified():
    ds = data.digits()
    a = data.split(ds, (0.7, 0.15, 0.15), seed=5)
    b = data.split(ds, (0.7, 0.15, 0.15), seed=5)
    assert [len(p) for p in a] == [len(p) for p in b] and sum(len(p) for p in a) == len(ds)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.inputs, q.inputs)
    ids = data.ArrayDataset(np.arange(len(ds)), ds.targets)
    parts = [set(p.inputs.tolist()) for p in data.split(ids, (0.7, 0.15, 0.15), seed=5)]
    assert set.union(*parts) == set(range(len(ds))) and sum(map(len, parts)) == len(ds)
    for part in a:
        shares = np.bincount(part.targets, minlength=10) / len(part)
        np.testing.assert_allclose(shares, 0.1, atol=0.02)
    with pytest.raises(ValueError, match="fractions"):
        data.split(ds, (0.5, 0.6))


def test_loader_batches_shuffles_by_seed_and_epoch():
    ds = data.ArrayDataset(np.arange(10, dtype=np.float32)[:, None], np.arange(10))
    loader = data.DataLoader(ds, batch_size=4, shuffle=True, seed=7)
    first = [y.numpy().tolist() for _, y in loader]
    second = [y.numpy().tolist() for _, y in loader]
    assert [len(b) for b in first] == [4, 4, 2] and len(loader) == 3
    assert sorted(sum(first, [])) == list(range(10)) and first != second
    replay = data.DataLoader(ds, batch_size=4, shuffle=True, seed=7)
    replay.set_epoch(1)
    assert [y.numpy().tolist() for _, y in replay] == second
    dropped = data.DataLoader(ds, batch_size=4, drop_last=True)
    assert [y.numpy().tolist() for _, y in dropped] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    x, y = next(iter(dropped))
    assert isinstance(x, metalnet.Tensor) and x.shape == (4, 1)
    with pytest.raises(ValueError, match="batch_size"):
        data.DataLoader(ds, batch_size=0)


def test_loader_accepts_any_indexable_dataset():
    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.float32(i), i * i

    batches = list(data.DataLoader(Squares(), batch_size=2))
    assert batches[2][1].numpy().tolist() == [16]


def test_load_npz(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, x=np.ones((6, 3)), y=np.array([0, 1, 2, 0, 1, 2]))
    ds = data.load(str(path))
    assert ds.inputs.dtype == np.float32 and ds.classes == ("0", "1", "2")
    auto = data.load_npz(path, targets=None)
    assert auto.task == "reconstruction" and auto.targets is auto.inputs
    with pytest.raises(KeyError, match="'labels'"):
        data.load_npz(path, targets="labels")


def test_image_folder(tmp_path):
    image = pytest.importorskip("PIL.Image")
    for label, colour in (("cats", (255, 0, 0)), ("dogs", (0, 0, 255))):
        (tmp_path / label).mkdir()
        for i in range(2):
            image.new("RGB", (6, 4), colour).save(tmp_path / label / f"{i}.png")
    ds = data.load(str(tmp_path))
    assert ds.inputs.shape == (4, 3, 4, 6) and ds.classes == ("cats", "dogs")
    assert ds.targets.tolist() == [0, 0, 1, 1] and ds.inputs[0, 0].max() == 1.0
    gray = data.image_folder(tmp_path, size=8, grayscale=True)
    assert gray.inputs.shape == (4, 1, 8, 8)
    with pytest.raises(ValueError, match="class folders"):
        data.image_folder(tmp_path / "cats")


def test_unknown_dataset_names_the_choices():
    with pytest.raises(ValueError, match="digits"):
        data.load("mnist")


def test_missing_optional_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)   # makes the import fail
    with pytest.raises(ImportError, match=r"metalnet\[data\]"):
        data.digits()
