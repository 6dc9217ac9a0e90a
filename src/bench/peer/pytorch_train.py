#!/usr/bin/env python3
"""The PyTorch side of `npm run parity`: trains the project's MLP GAN or DCGAN on MNIST in PyTorch
and writes the generator's samples after chosen epochs, for `npm run eval -- --images` to score
with the project's pinned classifier (so both sides are judged by the same network).

The step is the project's (src/shared/replica.ts): a D step on real + G(z) (BCE with logits, Adam,
betas 0.5/0.999), then a G step through the updated D on the same z; batches are drawn from a
shuffled epoch, the last incomplete batch dropped. The samples are drawn in inference mode
(BatchNorm's running statistics), as the project's evaluation does.

The settings the issue suspects are flags, PyTorch's defaults unless given:
  --init torch | glorot       PyTorch's default (kaiming-uniform a=√5, uniform bias) or Keras' (Glorot-
                              uniform weights, zero bias), which the project uses;
  --bn-momentum M, --bn-eps E  PyTorch's convention (running = (1−M)·running + M·batch): PyTorch's
                              defaults are 0.1 / 1e-5, Keras' (and the project's) 0.01 / 1e-3.

Output: OUT/epoch-E.npy, uint8 [n, 784], for every E in --save-epochs; one JSON line per epoch on
stdout ({"epoch", "seconds", "lossD", "lossG"}).
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
from torch import nn

from pytorch_gan import dcgan, gan_step, mlp


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def set_init(module, init):
    if init == "torch":
        return
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def set_batchnorm(module, momentum, eps):
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = momentum
            m.eps = eps


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["mlp", "dcgan"], default="mlp")
    p.add_argument("--images", required=True, help="MNIST training images, IDX (optionally .gz)")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--save-epochs", default="", help="comma-separated epochs to sample after (default: every one)")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--beta1", type=float, default=0.5)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--init", choices=["torch", "glorot"], default="torch")
    p.add_argument("--bn-momentum", type=float, default=0.1)
    p.add_argument("--bn-eps", type=float, default=1e-5)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)
    save = {int(e) for e in a.save_epochs.split(",") if e} or set(range(1, a.epochs + 1))

    raw = read_idx(a.images)
    if a.limit:
        raw = raw[: a.limit]
    g, d, shape = (mlp if a.model == "mlp" else dcgan)()
    for net in (g, d):
        set_init(net, a.init)
        set_batchnorm(net, a.bn_momentum, a.bn_eps)
    data = torch.from_numpy(raw.reshape((len(raw),) + shape).astype(np.float32) / 127.5 - 1)
    opt_g = torch.optim.Adam(g.parameters(), lr=a.lr, betas=(a.beta1, a.beta2))
    opt_d = torch.optim.Adam(d.parameters(), lr=a.lr, betas=(a.beta1, a.beta2))
    bce = nn.BCEWithLogitsLoss()
    b = a.batch
    ones, zeros = torch.ones(b, 1), torch.zeros(b, 1)
    z_eval = torch.from_numpy(np.random.default_rng(10_000 + a.seed).standard_normal((a.n, 100)).astype(np.float32))
    steps = len(data) // b
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(data)))
        sum_d = sum_g = 0.0
        for s in range(steps):
            real = data[order[s * b:(s + 1) * b]]
            loss_d, loss_g = gan_step(g, d, opt_g, opt_d, bce, real, torch.randn(b, 100), ones, zeros)
            sum_d += loss_d.item()
            sum_g += loss_g.item()
        seconds = time.perf_counter() - t0
        if epoch in save:
            g.eval()
            with torch.no_grad():
                imgs = g(z_eval).reshape(a.n, 784)
            g.train()
            u8 = ((imgs.numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
            np.save(os.path.join(a.out, f"epoch-{epoch}.npy"), u8)
        print(json.dumps({"epoch": epoch, "seconds": round(seconds, 2), "lossD": sum_d / steps, "lossG": sum_g / steps}), flush=True)


if __name__ == "__main__":
    main()
