"""lovasz_softmax and lovasz_hinge against the authors' own functions (tests/berman_lovasz.py), with ignored labels."""

from __future__ import annotations

import berman_lovasz as berman
import pytest
import torch

import losslang


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("classes", ["present", "all"])
@pytest.mark.parametrize("ignore", [None, 255])
def test_lovasz_softmax_matches_the_authors(per_image: bool, classes: str, ignore: int | None) -> None:
    torch.manual_seed(0)
    probas = torch.randn(3, 4, 5, 6, dtype=torch.float64).softmax(1).requires_grad_()
    labels = torch.randint(0, 3, (3, 5, 6))  # class 3 is never present
    if ignore is not None:
        labels[0, :2] = ignore
        labels[2, 1:] = ignore
    options = f', classes="{classes}", per_image={str(per_image).lower()}'
    options += f", ignore_index={ignore}" if ignore is not None else ""
    ours = losslang.compile(f"lovasz_softmax(p, t{options})")(p=probas, t=labels).total
    theirs = berman.lovasz_softmax(probas, labels, classes=classes, per_image=per_image, ignore=ignore)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(torch.autograd.grad(ours, probas)[0], torch.autograd.grad(theirs, probas)[0])


@pytest.mark.parametrize("per_image", [True, False])
@pytest.mark.parametrize("ignore", [None, 255])
def test_lovasz_hinge_matches_the_authors(per_image: bool, ignore: int | None) -> None:
    torch.manual_seed(1)
    logits = torch.randn(3, 5, 6, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 2, (3, 5, 6))
    if ignore is not None:
        labels[1, 3:] = ignore
    options = f", per_image={str(per_image).lower()}" + (f", ignore_index={ignore}" if ignore is not None else "")
    ours = losslang.compile(f"lovasz_hinge(s, t{options})")(s=logits, t=labels).total
    theirs = berman.lovasz_hinge(logits, labels, per_image=per_image, ignore=ignore)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(torch.autograd.grad(ours, logits)[0], torch.autograd.grad(theirs, logits)[0])


def test_lovasz_shapes_that_do_not_pair_are_named() -> None:
    with pytest.raises(losslang.LossShapeError, match=r"lovasz_softmax\(\): probas of shape \(2, 3, 4\) need class"):
        losslang.compile("lovasz_softmax(p, t)")(p=torch.rand(2, 3, 4), t=torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(losslang.LossShapeError, match=r"lovasz_hinge\(\): logits and labels must have the same shape"):
        losslang.compile("lovasz_hinge(s, t)")(s=torch.rand(2, 3), t=torch.zeros(2, 4, dtype=torch.long))


def test_an_image_wholly_ignored_counts_as_zero() -> None:
    # The authors' lovasz_softmax_flat returns an empty tensor there, which their mean then broadcasts to an
    # empty result; losslang gives the image 0, as their lovasz_hinge_flat does for an empty image.
    probas = torch.rand(2, 3, 2, 2).softmax(1)
    labels = torch.tensor([[[0, 1], [2, 1]], [[255, 255], [255, 255]]])
    both = losslang.compile("lovasz_softmax(p, t, per_image=true, ignore_index=255)")(p=probas, t=labels).total
    first = berman.lovasz_softmax(probas[:1], labels[:1], per_image=True)
    torch.testing.assert_close(both, first / 2)
