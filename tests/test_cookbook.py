"""docs/cookbook.md: every recipe against a faithful plain-PyTorch port of its source, total and gradients, float64."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import berman_lovasz as berman
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

import losslang

PAGE = (Path(__file__).parent.parent / "docs" / "cookbook.md").read_text()
RECIPES = dict(re.findall(r"<!-- cookbook: (\w+) -->\n```losslang\n(.*?)\n```", PAGE, flags=re.S))
Batch = dict[str, Tensor]


def randn(*shape: int, grad: bool = True) -> Tensor:
    return torch.randn(*shape, dtype=torch.float64).requires_grad_(grad)


def rand(*shape: int, low: float = 0.05, high: float = 0.95) -> Tensor:
    return torch.empty(*shape, dtype=torch.float64).uniform_(low, high).requires_grad_()


def normalized(*shape: int) -> Tensor:
    return F.normalize(torch.randn(*shape, dtype=torch.float64), dim=1).requires_grad_()


# Each recipe: a batch (leaves that require grad are differentiated) and the port of its source.
def dcgan_d() -> tuple[Batch, Callable[..., Tensor]]:
    def port(d_real: Tensor, d_fake: Tensor) -> Tensor:
        criterion = torch.nn.BCELoss()
        err_real = criterion(d_real, torch.full_like(d_real, 1.0))
        err_fake = criterion(d_fake, torch.full_like(d_fake, 0.0))
        return err_real + err_fake

    return {"d_real": rand(8), "d_fake": rand(8)}, port


class Critic(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(12, 1).double()

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(self.linear(x.flatten(1)))[:, 0] * 2


def wgan_gp() -> tuple[Batch, Callable[..., Tensor]]:
    critic = Critic()
    real, fake = torch.randn(6, 3, 2, 2, dtype=torch.float64), torch.randn(6, 3, 2, 2, dtype=torch.float64)
    alpha = torch.rand(6, 1, 1, 1, dtype=torch.float64)
    interp = (alpha * real + (1 - alpha) * fake).requires_grad_()
    weight = critic.linear.weight

    def port(d_real: Tensor, d_fake: Tensor, d_interp: Tensor, interp: Tensor) -> Tensor:
        gradients = torch.autograd.grad(
            outputs=d_interp, inputs=interp, grad_outputs=torch.ones(d_interp.size(), dtype=d_interp.dtype),
            create_graph=True, retain_graph=True, only_inputs=True,
        )[0]  # fmt: skip
        gradient_penalty = ((gradients.view(len(gradients), -1).norm(2, dim=1) - 1) ** 2).mean() * 10
        return d_fake.mean() - d_real.mean() + gradient_penalty

    batch = {"d_real": critic(real), "d_fake": critic(fake), "d_interp": critic(interp), "interp": interp}
    return {**batch, "_weight": weight}, port


def lsgan_d() -> tuple[Batch, Callable[..., Tensor]]:
    def port(d_real: Tensor, d_fake: Tensor) -> Tensor:
        loss = torch.nn.MSELoss()
        return (loss(d_real, torch.ones_like(d_real)) + loss(d_fake, torch.zeros_like(d_fake))) * 0.5

    return {"d_real": randn(4, 1, 3, 3), "d_fake": randn(4, 1, 3, 3)}, port


def pix2pix_g() -> tuple[Batch, Callable[..., Tensor]]:
    def port(d_fake: Tensor, fake_b: Tensor, real_b: Tensor) -> Tensor:
        loss_g_gan = torch.nn.BCEWithLogitsLoss()(d_fake, torch.ones_like(d_fake))
        loss_g_l1 = torch.nn.L1Loss()(fake_b, real_b) * 100.0
        return loss_g_gan + loss_g_l1

    return {"d_fake": randn(2, 1, 4, 4), "fake_b": randn(2, 3, 4, 4), "real_b": randn(2, 3, 4, 4)}, port


def cyclegan_g() -> tuple[Batch, Callable[..., Tensor]]:
    def port(d_a_fake_b, d_b_fake_a, rec_a, rec_b, real_a, real_b, idt_a_out, idt_b_out) -> Tensor:
        gan, l1 = torch.nn.MSELoss(), torch.nn.L1Loss()
        lambda_idt, lambda_a, lambda_b = 0.5, 10.0, 10.0
        loss_idt_a = l1(idt_a_out, real_b) * lambda_b * lambda_idt
        loss_idt_b = l1(idt_b_out, real_a) * lambda_a * lambda_idt
        loss_g_a = gan(d_a_fake_b, torch.ones_like(d_a_fake_b))
        loss_g_b = gan(d_b_fake_a, torch.ones_like(d_b_fake_a))
        loss_cycle_a = l1(rec_a, real_a) * lambda_a
        loss_cycle_b = l1(rec_b, real_b) * lambda_b
        return loss_g_a + loss_g_b + loss_cycle_a + loss_cycle_b + loss_idt_a + loss_idt_b

    images = ("rec_a", "rec_b", "real_a", "real_b", "idt_a_out", "idt_b_out")
    return {
        "d_a_fake_b": randn(2, 1, 3, 3),
        "d_b_fake_a": randn(2, 1, 3, 3),
        **{n: randn(2, 3, 4, 4) for n in images},
    }, port


def vae() -> tuple[Batch, Callable[..., Tensor]]:
    def port(recon_x: Tensor, x: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
        bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld

    return {"recon_x": rand(3, 784), "x": rand(3, 1, 28, 28), "mu": randn(3, 20), "logvar": randn(3, 20)}, port


def beta_vae() -> tuple[Batch, Callable[..., Tensor]]:
    def port(x_recon: Tensor, x: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
        batch_size = x.size(0)
        recon_loss = F.binary_cross_entropy_with_logits(x_recon, x, reduction="sum").div(batch_size)
        klds = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
        total_kld = klds.sum(1).mean(0, True)
        return recon_loss + 4 * total_kld[0]

    return {"x_recon": randn(5, 1, 4, 4), "x": rand(5, 1, 4, 4), "mu": randn(5, 10), "logvar": randn(5, 10)}, port


def centernet_focal() -> tuple[Batch, Callable[..., Tensor]]:
    def port(pred: Tensor, gt: Tensor) -> Tensor:
        pos_inds = gt.eq(1).float()
        neg_inds = gt.lt(1).float()
        neg_weights = torch.pow(1 - gt, 4)
        loss = 0
        pos_loss = torch.log(pred) * torch.pow(1 - pred, 2) * pos_inds
        neg_loss = torch.log(1 - pred) * torch.pow(pred, 2) * neg_weights * neg_inds
        num_pos = pos_inds.float().sum()
        pos_loss = pos_loss.sum()
        neg_loss = neg_loss.sum()
        return loss - (pos_loss + neg_loss) / num_pos

    gt = torch.rand(2, 3, 5, 5, dtype=torch.float64) * 0.9
    gt[0, 1, 2, 2] = gt[1, 0, 4, 1] = 1.0  # two objects' centres
    return {"pred": rand(2, 3, 5, 5), "gt": gt}, port


def fastrcnn() -> tuple[Batch, Callable[..., Tensor]]:
    def port(class_logits: Tensor, box_regression: Tensor, labels: Tensor, regression_targets: Tensor) -> Tensor:
        classification_loss = F.cross_entropy(class_logits, labels)
        sampled_pos_inds_subset = torch.where(labels > 0)[0]
        labels_pos = labels[sampled_pos_inds_subset]
        n, _ = class_logits.shape
        box_regression = box_regression.reshape(n, box_regression.size(-1) // 4, 4)
        box_loss = F.smooth_l1_loss(
            box_regression[sampled_pos_inds_subset, labels_pos],
            regression_targets[sampled_pos_inds_subset],
            beta=1 / 9,
            reduction="sum",
        )
        return classification_loss + box_loss / labels.numel()

    labels = torch.tensor([0, 2, 1, 0, 3, 2])
    return {
        "class_logits": randn(6, 4),
        "box_regression": randn(6, 16),
        "labels": labels,
        "regression_targets": randn(6, 4),
    }, port


def detr_labels() -> tuple[Batch, Callable[..., Tensor]]:
    def port(pred_logits: Tensor, target_classes: Tensor, empty_weight: Tensor) -> Tensor:
        return F.cross_entropy(pred_logits.transpose(1, 2), target_classes, empty_weight)

    empty_weight = torch.ones(5, dtype=torch.float64)
    empty_weight[-1] = 0.1  # eos_coef
    target_classes = torch.full((2, 6), 4)
    target_classes[0, [1, 3]] = torch.tensor([0, 2])
    target_classes[1, [0]] = torch.tensor([1])
    return {"pred_logits": randn(2, 6, 5), "target_classes": target_classes, "empty_weight": empty_weight}, port


def dice_ce() -> tuple[Batch, Callable[..., Tensor]]:
    def port(logits: Tensor, labels: Tensor) -> Tensor:
        ce = torch.nn.CrossEntropyLoss()(logits, labels)
        probs = torch.softmax(logits, 1)
        target = F.one_hot(labels, 3).permute(0, 3, 1, 2).to(probs.dtype)
        reduce_axis = [2, 3]
        intersection = torch.sum(target * probs, dim=reduce_axis)
        denominator = torch.sum(target, dim=reduce_axis) + torch.sum(probs, dim=reduce_axis)
        dice = 1.0 - (2.0 * intersection + 1e-5) / (denominator + 1e-5)
        return dice.mean() + ce

    return {"logits": randn(2, 3, 4, 4), "labels": torch.randint(0, 3, (2, 4, 4))}, port


def bce_lovasz() -> tuple[Batch, Callable[..., Tensor]]:
    def port(logits: Tensor, masks: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, masks.double()) + berman.lovasz_hinge(logits, masks)

    return {"logits": randn(3, 5, 5), "masks": torch.randint(0, 2, (3, 5, 5))}, port


def void_dice() -> tuple[Batch, Callable[..., Tensor]]:
    def port(logits: Tensor, target: Tensor) -> Tensor:
        valid = (target != 255)[:, None].double()
        probs = logits.softmax(1) * valid
        onehot = F.one_hot(torch.where(target == 255, 0, target), 4).permute(0, 3, 1, 2).double() * valid
        dice = 1 - (2 * (probs * onehot).sum() + 1) / (probs.sum() + onehot.sum() + 1)
        return F.cross_entropy(logits, target, ignore_index=255) + dice

    target = torch.randint(0, 4, (2, 3, 3))
    target[0, 0] = 255
    return {"logits": randn(2, 4, 3, 3), "target": target}, port


def clip() -> tuple[Batch, Callable[..., Tensor]]:
    def port(image_features: Tensor, text_features: Tensor, logit_scale: Tensor) -> Tensor:
        image_features = image_features / image_features.norm(dim=1, keepdim=True)
        text_features = text_features / text_features.norm(dim=1, keepdim=True)
        logits_per_image = logit_scale * image_features @ text_features.T
        logits_per_text = logit_scale * text_features @ image_features.T
        labels = torch.arange(logits_per_image.shape[0], dtype=torch.long)
        return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2

    scale = torch.tensor(1 / 0.07, dtype=torch.float64, requires_grad=True)
    return {"image_features": randn(5, 8), "text_features": randn(5, 8), "logit_scale": scale}, port


def simclr() -> tuple[Batch, Callable[..., Tensor]]:
    batch_size, n_views, temperature = 4, 2, 0.07

    def port(features: Tensor, pair: Tensor) -> Tensor:
        labels = torch.cat([torch.arange(batch_size) for i in range(n_views)], dim=0)
        labels = (labels.unsqueeze(0) == labels.unsqueeze(1)).float()
        features = F.normalize(features, dim=1)
        similarity_matrix = torch.matmul(features, features.T)
        mask = torch.eye(labels.shape[0], dtype=torch.bool)
        labels = labels[~mask].view(labels.shape[0], -1)
        similarity_matrix = similarity_matrix[~mask].view(similarity_matrix.shape[0], -1)
        positives = similarity_matrix[labels.bool()].view(labels.shape[0], -1)
        negatives = similarity_matrix[~labels.bool()].view(similarity_matrix.shape[0], -1)
        logits = torch.cat([positives, negatives], dim=1)
        labels = torch.zeros(logits.shape[0], dtype=torch.long)
        return torch.nn.CrossEntropyLoss()(logits / temperature, labels)

    pair = torch.cat([torch.arange(batch_size, 2 * batch_size), torch.arange(batch_size)])
    return {"features": randn(2 * batch_size, 6), "pair": pair}, port


def supcon() -> tuple[Batch, Callable[..., Tensor]]:
    def port(features: Tensor, labels: Tensor) -> Tensor:
        temperature = base_temperature = 0.07
        batch_size = features.shape[0]
        mask = torch.eq(labels.view(-1, 1), labels.view(-1, 1).T).float()
        anchor_dot_contrast = torch.div(torch.matmul(features, features.T), temperature)
        logits_max, _ = torch.max(anchor_dot_contrast, dim=1, keepdim=True)
        logits = anchor_dot_contrast - logits_max.detach()
        logits_mask = torch.scatter(torch.ones_like(mask), 1, torch.arange(batch_size).view(-1, 1), 0)
        mask = mask * logits_mask
        exp_logits = torch.exp(logits) * logits_mask
        log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
        mask_pos_pairs = mask.sum(1)
        mask_pos_pairs = torch.where(mask_pos_pairs < 1e-6, 1, mask_pos_pairs)
        mean_log_prob_pos = (mask * log_prob).sum(1) / mask_pos_pairs
        return (-(temperature / base_temperature) * mean_log_prob_pos).mean()

    return {"features": normalized(6, 5), "labels": torch.tensor([0, 1, 0, 2, 1, 0])}, port


def batch_hard() -> tuple[Batch, Callable[..., Tensor]]:
    def port(embeddings: Tensor, labels: Tensor) -> Tensor:
        n = embeddings.size(0)
        dist = torch.pow(embeddings, 2).sum(dim=1, keepdim=True).expand(n, n)
        dist = dist + dist.t()
        dist = dist.addmm(embeddings, embeddings.t(), beta=1, alpha=-2)
        dist = dist.clamp(min=1e-12).sqrt()
        mask = labels.expand(n, n).eq(labels.expand(n, n).t())
        dist_ap = torch.stack([dist[i][mask[i]].max() for i in range(n)])
        dist_an = torch.stack([dist[i][mask[i] == 0].min() for i in range(n)])
        return torch.nn.MarginRankingLoss(margin=0.3)(dist_an, dist_ap, torch.ones_like(dist_an))

    return {"embeddings": randn(6, 4), "labels": torch.tensor([0, 0, 1, 1, 2, 2])}, port


def kd() -> tuple[Batch, Callable[..., Tensor]]:
    def port(student: Tensor, teacher: Tensor, labels: Tensor) -> Tensor:
        alpha, t = 0.9, 4
        return torch.nn.KLDivLoss()(F.log_softmax(student / t, dim=1), F.softmax(teacher / t, dim=1)) * (
            alpha * t * t
        ) + F.cross_entropy(student, labels) * (1.0 - alpha)

    return {"student": randn(5, 10), "teacher": randn(5, 10), "labels": torch.randint(0, 10, (5,))}, port


def fitnet() -> tuple[Batch, Callable[..., Tensor]]:
    def port(student: Tensor, teacher: Tensor, labels: Tensor, student_feat: Tensor, teacher_feat: Tensor) -> Tensor:
        t = 4
        p_s, p_t = F.log_softmax(student / t, dim=1), F.softmax(teacher / t, dim=1)
        loss_div = F.kl_div(p_s, p_t, reduction="sum") * (t**2) / student.shape[0]
        loss_kd = torch.nn.MSELoss()(student_feat, teacher_feat)
        return 1 * F.cross_entropy(student, labels) + 1 * loss_div + 100 * loss_kd

    feats = {"student_feat": randn(5, 8, 2, 2), "teacher_feat": randn(5, 8, 2, 2)}
    return {"student": randn(5, 10), "teacher": randn(5, 10), "labels": torch.randint(0, 10, (5,)), **feats}, port


def nerf() -> tuple[Batch, Callable[..., Tensor]]:
    def port(rgb: Tensor, rgb0: Tensor, target_s: Tensor) -> Tensor:
        img2mse = lambda x, y: torch.mean((x - y) ** 2)  # noqa: E731 - the source's
        return img2mse(rgb, target_s) + img2mse(rgb0, target_s)

    return {"rgb": rand(16, 3), "rgb0": rand(16, 3), "target_s": rand(16, 3)}, port


def silog() -> tuple[Batch, Callable[..., Tensor]]:
    def port(depth_est: Tensor, depth_gt: Tensor, mask: Tensor) -> Tensor:
        d = torch.log(depth_est[mask]) - torch.log(depth_gt[mask])
        return torch.sqrt((d**2).mean() - 0.85 * (d.mean() ** 2)) * 10.0

    depth_gt = rand(2, 1, 4, 4, low=0.5, high=10)
    return {"depth_est": rand(2, 1, 4, 4, low=0.5, high=10), "depth_gt": depth_gt, "mask": depth_gt.detach() > 2}, port


def smoothness() -> tuple[Batch, Callable[..., Tensor]]:
    def port(disp: Tensor, img: Tensor) -> Tensor:
        grad_disp_x = torch.abs(disp[:, :, :, :-1] - disp[:, :, :, 1:])
        grad_disp_y = torch.abs(disp[:, :, :-1, :] - disp[:, :, 1:, :])
        grad_img_x = torch.mean(torch.abs(img[:, :, :, :-1] - img[:, :, :, 1:]), 1, keepdim=True)
        grad_img_y = torch.mean(torch.abs(img[:, :, :-1, :] - img[:, :, 1:, :]), 1, keepdim=True)
        grad_disp_x = grad_disp_x * torch.exp(-grad_img_x)
        grad_disp_y = grad_disp_y * torch.exp(-grad_img_y)
        return grad_disp_x.mean() + grad_disp_y.mean()

    return {"disp": rand(2, 1, 5, 6), "img": rand(2, 3, 5, 6)}, port


def tacotron2() -> tuple[Batch, Callable[..., Tensor]]:
    def port(
        mel_out: Tensor, mel_out_postnet: Tensor, gate_out: Tensor, mel_target: Tensor, gate_target: Tensor
    ) -> Tensor:
        gate_target = gate_target.view(-1, 1)
        gate_out = gate_out.view(-1, 1)
        mel_loss = torch.nn.MSELoss()(mel_out, mel_target) + torch.nn.MSELoss()(mel_out_postnet, mel_target)
        gate_loss = torch.nn.BCEWithLogitsLoss()(gate_out, gate_target)
        return mel_loss + gate_loss

    mels = {"mel_out": randn(2, 8, 7), "mel_out_postnet": randn(2, 8, 7), "mel_target": randn(2, 8, 7, grad=False)}
    gate_target = torch.zeros(2, 7, dtype=torch.float64)
    gate_target[:, 5:] = 1
    return {**mels, "gate_out": randn(2, 7), "gate_target": gate_target}, port


def hybrid_ctc() -> tuple[Batch, Callable[..., Tensor]]:
    def port(log_probs, targets, input_lengths, target_lengths, decoder_logits, ys_out) -> Tensor:
        loss_ctc = F.ctc_loss(log_probs, targets, input_lengths, target_lengths)
        loss_att = F.cross_entropy(
            decoder_logits.reshape(-1, decoder_logits.shape[-1]), ys_out.reshape(-1), ignore_index=-1
        )
        return 0.3 * loss_ctc + (1 - 0.3) * loss_att

    ys_out = torch.randint(0, 6, (2, 4))
    ys_out[1, 3] = -1  # padding
    ctc_inputs = {
        "log_probs": torch.randn(9, 2, 6, dtype=torch.float64).log_softmax(2).detach().requires_grad_(),
        "targets": torch.randint(1, 6, (2, 3)),
        "input_lengths": torch.tensor([9, 8]),
        "target_lengths": torch.tensor([3, 2]),
    }
    return {**ctc_inputs, "decoder_logits": randn(2, 4, 6), "ys_out": ys_out}, port


def burgers() -> tuple[Batch, Callable[..., Tensor]]:
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    tx = torch.rand(10, 2, dtype=torch.float64).requires_grad_()
    boundary = torch.rand(4, 2, dtype=torch.float64)
    nu = 0.01 / math.pi

    def port(u_f: Tensor, tx: Tensor, u_b: Tensor, u_data: Tensor) -> Tensor:
        u_t = torch.autograd.grad(u_f, tx, torch.ones_like(u_f), create_graph=True)[0][:, 0]
        u_x = torch.autograd.grad(u_f, tx, torch.ones_like(u_f), create_graph=True)[0][:, 1]
        u_xx = torch.autograd.grad(u_x, tx, torch.ones_like(u_x), create_graph=True)[0][:, 1]
        f = u_t + u_f * u_x - nu * u_xx
        return torch.mean(torch.square(u_data - u_b)) + torch.mean(torch.square(f))

    batch = {"u_f": net(tx)[:, 0], "tx": tx, "u_b": net(boundary)[:, 0], "u_data": torch.zeros(4, dtype=torch.float64)}
    return {**batch, "_weight": net[0].weight}, port


def focal_multiclass() -> tuple[Batch, Callable[..., Tensor]]:
    def port(logits: Tensor, target: Tensor) -> Tensor:
        target = target.view(-1, 1)
        logpt = F.log_softmax(logits, dim=1)
        logpt = logpt.gather(1, target)
        logpt = logpt.view(-1)
        pt = logpt.detach().exp()
        loss = -1 * (1 - pt) ** 2 * logpt
        return loss.mean()

    return {"logits": randn(6, 5), "target": torch.randint(0, 5, (6,))}, port


def label_smoothing() -> tuple[Batch, Callable[..., Tensor]]:
    def port(x: Tensor, target: Tensor) -> Tensor:
        smoothing, confidence = 0.1, 0.9
        logprobs = F.log_softmax(x, dim=-1)
        nll_loss = -logprobs.gather(dim=-1, index=target.unsqueeze(1))
        nll_loss = nll_loss.squeeze(1)
        smooth_loss = -logprobs.mean(dim=-1)
        return (confidence * nll_loss + smoothing * smooth_loss).mean()

    return {"x": randn(6, 5), "target": torch.randint(0, 5, (6,))}, port


CASES = {fn.__name__: fn for fn in [
    dcgan_d, wgan_gp, lsgan_d, pix2pix_g, cyclegan_g, vae, beta_vae, centernet_focal, fastrcnn, detr_labels, dice_ce,
    bce_lovasz, void_dice, clip, simclr, supcon, batch_hard, kd, fitnet, nerf, silog, smoothness, tacotron2,
    hybrid_ctc, burgers, focal_multiclass, label_smoothing,
]}  # fmt: skip


def test_every_recipe_on_the_page_has_a_port_and_the_page_covers_eight_fields() -> None:
    assert set(RECIPES) == set(CASES) and len(RECIPES) >= 25
    fields = re.findall(r"^## (.+)$", PAGE, flags=re.M)
    assert len(fields) >= 8, fields


@pytest.mark.parametrize("name", sorted(CASES))
def test_recipe_matches_a_faithful_port_of_its_source(name: str) -> None:
    torch.manual_seed(0)
    batch, port = CASES[name]()
    inputs = {key: value for key, value in batch.items() if not key.startswith("_")}
    leaves = [
        value for value in batch.values() if value.requires_grad and (value.is_leaf or value is batch.get("_weight"))
    ]
    ours = losslang.compile(RECIPES[name])(inputs).total
    theirs = port(**inputs)
    torch.testing.assert_close(ours, theirs.to(ours.dtype), rtol=1e-6, atol=1e-6)
    for leaf, mine, reference in zip(
        leaves,
        torch.autograd.grad(ours, leaves, retain_graph=True, allow_unused=True, materialize_grads=True),
        torch.autograd.grad(theirs, leaves, retain_graph=True, allow_unused=True, materialize_grads=True),
        strict=True,
    ):
        torch.testing.assert_close(mine, reference, rtol=1e-6, atol=1e-6, msg=lambda m, leaf=leaf: f"{name}: {m}")
