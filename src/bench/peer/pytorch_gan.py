#!/usr/bin/env python3
"""The PyTorch peer of `npm run bench`: the same MLP GAN and DCGAN steps, timed on this machine.

One step = a D step on real + fake (BCE with logits, Adam 2e-4, betas 0.5/0.999) and a G step
through the updated D, the usual PyTorch recipe (G's forward pass is reused for the G step).
Prints one JSON line: {"torch": version, "threads": n, "rows": [{"model", "stepMs": [...]}]}.

Thread count: torch.set_num_threads(n) does not limit OpenBLAS (Debian's torch calls it for
matmuls); set OPENBLAS_NUM_THREADS=n in the environment too (the bench does).
"""
import argparse
import json
import time

import torch
from torch import nn


def mlp():
    def g_block(i, o):
        return [nn.Linear(i, o), nn.LeakyReLU(0.2), nn.BatchNorm1d(o)]

    def d_block(i, o):
        return [nn.Linear(i, o), nn.LeakyReLU(0.2), nn.Dropout(0.3)]

    g = nn.Sequential(*g_block(100, 256), *g_block(256, 512), *g_block(512, 1024), nn.Linear(1024, 784), nn.Tanh())
    d = nn.Sequential(*d_block(784, 1024), *d_block(1024, 512), *d_block(512, 256), nn.Linear(256, 1))
    return g, d, (784,)


def dcgan():
    # LeakyReLU keeps Keras' default slope 0.3 here, as the project's DCGAN does.
    g = nn.Sequential(
        nn.Linear(100, 7 * 7 * 256, bias=False), nn.BatchNorm1d(7 * 7 * 256), nn.LeakyReLU(0.3), nn.Unflatten(1, (256, 7, 7)),
        nn.ConvTranspose2d(256, 128, 5, stride=1, padding=2, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.3),
        nn.ConvTranspose2d(128, 64, 5, stride=2, padding=2, output_padding=1, bias=False), nn.BatchNorm2d(64), nn.LeakyReLU(0.3),
        nn.ConvTranspose2d(64, 1, 5, stride=2, padding=2, output_padding=1, bias=False), nn.Tanh())
    d = nn.Sequential(
        nn.Conv2d(1, 64, 5, stride=2, padding=2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
        nn.Conv2d(64, 128, 5, stride=2, padding=2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
        nn.Flatten(), nn.Linear(7 * 7 * 128, 1))
    return g, d, (1, 28, 28)


def gan_step(g, d, opt_g, opt_d, bce, real, z, ones, zeros):
    """One D step on real + G(z), then one G step through the updated D on the same G(z); returns the losses."""
    batch = len(real)
    fake = g(z)
    out = d(torch.cat([real, fake.detach()]))
    loss_d = bce(out[:batch], ones) + bce(out[batch:], zeros)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    loss_g = bce(d(fake), ones)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return loss_d, loss_g


def time_steps(build, batch, warmup, repeats):
    g, d, shape = build()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    real = torch.rand((batch,) + shape) * 2 - 1
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
    times = []
    for i in range(warmup + repeats):
        t0 = time.perf_counter()
        gan_step(g, d, opt_g, opt_d, bce, real, torch.randn(batch, 100), ones, zeros)
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1000)
    return times


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--models", default="mlp,dcgan")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=10)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    builds = {"mlp": mlp, "dcgan": dcgan}
    rows = []
    for m in a.models.split(","):
        reps = a.repeats if m == "mlp" else max(2, a.repeats // 3)
        rows.append({"model": m, "stepMs": time_steps(builds[m], a.batch, a.warmup if m == "mlp" else 1, reps)})
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "rows": rows}))


if __name__ == "__main__":
    main()
