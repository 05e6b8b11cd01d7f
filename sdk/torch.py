"""PyTorch datasets over a medsynth generator (needs torch; the only SDK module that imports it).

>>> from medsynth import Generator
>>> from medsynth.torch import SyntheticDataset, balance_dataset
>>> gen = Generator.load("isic2017-64")                                          # doctest: +SKIP
>>> synth = SyntheticDataset(gen, {"melanoma": 998, "seborrheic_keratosis": 1118})  # doctest: +SKIP
>>> image, label = synth[0]        # uint8 tensor (3, 64, 64), label 1 = gen.card.class_index("melanoma")

Items are the same pixels as :meth:`medsynth.Generator.generate` with the same seed. The datasets are safe in
a ``DataLoader`` with worker processes: each process opens its own onnxruntime session on first use (a
session never crosses a fork or a pickle), and images are generated in batches, not one per call.
"""

from __future__ import annotations

import bisect
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from medsynth._primitives import is_integer
from medsynth.balance import plan_balance
from medsynth.errors import ArgumentError, MissingExtraError, ModelError, UnknownClassError
from medsynth.generator import DEFAULT_BATCH_SIZE, Generator
from medsynth.model_card import shorten_list
from medsynth.seeding import check_seed

try:
    import torch
    from torch.utils.data import ConcatDataset, Dataset
except ModuleNotFoundError as exc:  # pragma: no cover - exercised only without torch
    if exc.name != "torch":
        raise
    raise MissingExtraError(
        'medsynth.torch needs PyTorch, which is not installed: pip install torch (or "medsynth[train]")'
    ) from exc

__all__ = ["SyntheticDataset", "balance_dataset"]

# In a DataLoader worker each process has its own session; one intra-op thread each, so that N workers do not
# start N x cores threads. The pixels do not depend on the thread count.
_WORKER_THREADS = 1


class SyntheticDataset(Dataset[tuple[Any, int]]):
    """A map-style dataset of synthetic images: ``counts[c]`` images of each class ``c``, class by class.

    Item ``k`` is ``(image, label)``: ``image`` a ``uint8`` tensor ``(C, H, W)`` (after ``transform``, if
    given), the same pixels as ``generator.generate(n, c, seed)[0][i]``; ``label`` the model's class index.
    Items run through the classes in the order of ``counts``, then by image index ``0 .. n - 1``.

    Parameters
    ----------
    generator
        The loaded model. Worker processes (and unpickled copies) reopen its file on the same device; the
        file's sha256 must still match.
    counts
        Class name (or index) -> number of images, e.g. ``{"melanoma": 998}``; zero counts are allowed.
    seed
        Run seed: the same seed gives the same images as ``medsynth generate --seed``.
    transform
        Called on each image tensor, e.g. a torchvision transform.
    batch_size
        Images per inference call: ``DataLoader`` batches are generated class by class in one call each, and
        single-item access generates and keeps the aligned block of ``batch_size`` images around it. The
        pixels do not depend on it.

    Attributes
    ----------
    class_to_idx : dict[str, int]
        The classes of ``counts`` -> the model's class index (the label).
    targets : list[int]
        The label of every item, in item order (for samplers).

    Raises
    ------
    UnknownClassError
        A class the model does not have.
    ArgumentError
        A negative or non-integer count, a class given twice, a bad seed or batch size.
    """

    def __init__(
        self,
        generator: Generator,
        counts: Mapping[str | int, int],
        seed: int = 0,
        transform: Callable[[torch.Tensor], Any] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        check_seed(seed)
        if not is_integer(batch_size) or batch_size <= 0:
            raise ArgumentError(f"batch_size must be a positive integer, got {batch_size!r}")
        card = generator.card
        self._parts: list[tuple[int, int]] = []  # (class index, n) in the order given
        for cls, n in counts.items():
            index = card.class_index(cls)
            if not is_integer(n) or n < 0:
                raise ArgumentError(
                    f"the number of images of class {cls!r} must be a non-negative integer, got {n!r}"
                )
            if any(index == seen for seen, _ in self._parts):
                raise ArgumentError(f"class {card.classes[index]!r} appears twice in counts")
            self._parts.append((index, int(n)))
        self._starts = np.cumsum([0] + [n for _, n in self._parts])
        self.seed = seed
        self.transform = transform
        self.batch_size = int(batch_size)
        self.class_to_idx = {card.classes[index]: index for index, _ in self._parts}
        self.targets = [index for index, n in self._parts for _ in range(n)]
        self._path = generator.path
        self._sha256 = generator.sha256
        self._device = generator.device
        self._generator: Generator | None = generator
        self._owner = os.getpid()
        self._block: tuple[int, int, np.ndarray] | None = None  # (part, first index, images)

    # -- pickling and processes ---------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_generator"] = None  # an onnxruntime session does not pickle; the copy opens its own
        state["_block"] = None
        return state

    def _gen(self) -> Generator:
        # A forked worker inherits the parent's session object, which must not be used across a fork.
        if self._generator is None or self._owner != os.getpid():
            threads = None if self._owner == os.getpid() else _WORKER_THREADS
            gen = Generator.load(self._path, device=self._device, threads=threads)
            if gen.sha256 != self._sha256:
                raise ModelError(
                    f"{self._path} changed since the dataset was made (sha256 {gen.sha256}, was "
                    f"{self._sha256}); its images would differ, rebuild the dataset"
                )
            self._generator, self._owner, self._block = gen, os.getpid(), None
        return self._generator

    # -- items --------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._starts[-1])

    def _locate(self, item: int) -> tuple[int, int]:
        """(part, image index) of item ``item``."""
        if not is_integer(item):
            raise TypeError(f"dataset indices are integers, got {item!r}")
        k = int(item) + len(self) if item < 0 else int(item)
        if not 0 <= k < len(self):
            raise IndexError(f"index {item} is out of range for a dataset of {len(self)} images")
        part = int(np.searchsorted(self._starts, k, side="right")) - 1
        return part, k - int(self._starts[part])

    def _item(self, image: np.ndarray, part: int) -> tuple[Any, int]:
        tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        return (self.transform(tensor) if self.transform is not None else tensor), self._parts[part][0]

    def __getitem__(self, item: int) -> tuple[Any, int]:
        part, index = self._locate(item)
        block = self._block
        if block is None or block[0] != part or not block[1] <= index < block[1] + len(block[2]):
            first = index - index % self.batch_size
            last = min(first + self.batch_size, self._parts[part][1])
            images = self._gen().generate_indices(self._parts[part][0], range(first, last), self.seed)
            block = self._block = (part, first, images)
        return self._item(block[2][index - block[1]], part)

    def __getitems__(self, items: Sequence[int]) -> list[tuple[Any, int]]:
        """Items ``items`` with one inference call per class (what a ``DataLoader`` batch asks for)."""
        located = [self._locate(item) for item in items]
        by_part: dict[int, list[int]] = {}
        for part, index in located:
            by_part.setdefault(part, []).append(index)
        images: dict[tuple[int, int], np.ndarray] = {}
        for part, indices in by_part.items():
            wanted = sorted(set(indices))
            for first in range(0, len(wanted), self.batch_size):
                chunk = wanted[first : first + self.batch_size]
                made = self._gen().generate_indices(self._parts[part][0], chunk, self.seed)
                images.update(((part, index), image) for index, image in zip(chunk, made, strict=True))
        return [self._item(images[(part, index)], part) for part, index in located]

    def __repr__(self) -> str:
        parts = ", ".join(f"{name}: {n}" for name, (_, n) in zip(self.class_to_idx, self._parts, strict=True))
        return f"SyntheticDataset({{{parts}}}, seed={self.seed}, model={str(self._path)!r})"


class _Concat(ConcatDataset[Any]):
    """A ConcatDataset that passes a DataLoader batch on to each part's ``__getitems__`` (batched)."""

    def __getitems__(self, items: Sequence[int]) -> list[Any]:
        n = len(self)
        where: dict[int, list[tuple[int, int]]] = {}  # part -> (position in items, index in part)
        for position, item in enumerate(items):
            k = int(item) + n if item < 0 else int(item)
            if not 0 <= k < n:
                raise IndexError(f"index {item} is out of range for a dataset of {n} items")
            part = bisect.bisect_right(self.cumulative_sizes, k)
            offset = self.cumulative_sizes[part - 1] if part else 0
            where.setdefault(part, []).append((position, k - offset))
        out: list[Any] = [None] * len(items)
        for part, pairs in where.items():
            dataset = self.datasets[part]
            indices = [index for _, index in pairs]
            many = getattr(dataset, "__getitems__", None)
            got = many(indices) if many is not None else [dataset[index] for index in indices]
            for (position, _), value in zip(pairs, got, strict=True):
                out[position] = value
        return out


def balance_dataset(
    real_dataset: Dataset[Any],
    labels: Sequence[str | int],
    generator: Generator,
    target: str | int | Mapping[str, int] = "max",
    seed: int = 0,
    transform: Callable[[torch.Tensor], Any] | None = None,
) -> ConcatDataset[Any]:
    """The real dataset topped up with synthetic images to the target counts, as one dataset.

    The synthetic part is :func:`medsynth.plan_balance` of the real counts, made by ``generator``: its items
    come after the real ones and their labels are the model's class indices. The real items are returned as
    ``real_dataset`` gives them: its labels must be the model's class indices too (see the ImageFolder trap in
    docs/sdk.md).

    Parameters
    ----------
    real_dataset
        Any map-style dataset; it is not read.
    labels
        The class of each real item, in order: a class name, or the model's class index.
    generator
        The loaded model.
    target
        As for :func:`medsynth.plan_balance`: ``"max"``, an int, or class -> total.
    seed
        Seed of the synthetic images.
    transform
        Applied to the synthetic image tensors (the real dataset keeps its own).

    Returns
    -------
    torch.utils.data.ConcatDataset
        ``[real_dataset, synthetic]``; ``.datasets[1]`` is the :class:`SyntheticDataset`.

    Raises
    ------
    UnknownClassError
        Real labels the model does not know (all of them are named).
    ArgumentError
        ``labels`` and ``real_dataset`` differ in length, or a bad target.
    """
    card = generator.card
    labels = list(labels)
    try:
        size = len(real_dataset)  # type: ignore[arg-type]
    except TypeError:
        size = None
    if size is not None and size != len(labels):
        raise ArgumentError(
            f"labels has {len(labels)} entries but the real dataset has {size} items; give one label per item"
        )
    names: list[str] = []
    unknown: set[str] = set()
    for label in labels:
        is_index = is_integer(label)
        if is_index and 0 <= int(label) < len(card.classes):
            names.append(card.classes[int(label)])
        elif isinstance(label, str) and label in card.classes:
            names.append(label)
        else:
            unknown.add(repr(label) if not isinstance(label, str) else label)
    if unknown:
        listed = shorten_list(sorted(unknown)[:20], len(unknown), more="fix the labels or choose their model")
        raise UnknownClassError(
            f"the real labels have classes the model '{card.name}' does not know: "
            f"{listed}; the model's classes are {card.classes_text()}"
        )
    real = Counter(names)
    planned = plan_balance({name: real[name] for name in card.classes if name in real}, target)
    need: dict[str | int, int] = {name: n for name, n in planned.items()}
    synthetic = SyntheticDataset(generator, need, seed=seed, transform=transform)
    return _Concat([real_dataset, synthetic])
