#!/usr/bin/python3
"""PyTorch's run of configs/cifar10_resnet20.yaml's recipe, for comparing training curves.

Development tool (the project never depends on Python): /usr/bin/python3 with Debian's
python3-torch and python3-pil. Reads the unpacked JPEG copy (scripts/unpack-cifar10), decodes it
once with PIL into datasets/cifar10/{train,test}.pt, and trains the CIFAR ResNet-20 (option-A
shortcuts) with SGD 0.1, momentum 0.9, weight decay on every parameter, cosine decay per
iteration, batch 128, crop 32 with 4-pixel zero padding and flip, printing one line per epoch.

    EPOCHS=10 THREADS=1 INIT=fan_out scripts/peer-cifar10-resnet20.py

INIT: fan_out (our float zoo's Kaiming rule, the LilNetX reference's) or fan_in (the usual
PyTorch CIFAR ResNet code). WD: weight decay (default 5e-4).
"""
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fixtures"))
from make_resnet20_fixture import ResNet20  # noqa: E402  the network the parity test holds us to

ROOT = os.path.join(HERE, "..", "datasets", "cifar10")
MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2023, 0.1994, 0.2010]).view(1, 3, 1, 1)


def load(split):
    cache = os.path.join(ROOT, split + ".pt")
    if os.path.exists(cache):
        return torch.load(cache)
    classes = sorted(os.listdir(os.path.join(ROOT, "train")))
    xs, ys = [], []
    for label, c in enumerate(classes):
        folder = os.path.join(ROOT, split, c)
        for f in sorted(os.listdir(folder)):
            xs.append(np.asarray(Image.open(os.path.join(folder, f)).convert("RGB")))
            ys.append(label)
    data = (torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).contiguous(), torch.tensor(ys))
    torch.save(data, cache)
    return data


def main():
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    torch.manual_seed(int(os.environ.get("SEED", "0")))
    epochs, batch = int(os.environ.get("EPOCHS", "60")), 128
    xtr, ytr = load("train")
    xte, yte = load("test")
    norm = lambda x: (x.float() / 255 - MEAN) / STD
    model = ResNet20()
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode=os.environ.get("INIT", "fan_out"),
                                    nonlinearity="relu")
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9,
                          weight_decay=float(os.environ.get("WD", "5e-4")))
    steps = len(xtr) // batch
    for epoch in range(epochs):
        model.train()
        perm, t0, loss_sum, correct = torch.randperm(len(xtr)), time.time(), 0.0, 0
        for it in range(steps):
            for g in opt.param_groups:
                g["lr"] = 0.05 * (1 + math.cos(math.pi * (epoch + it / steps) / epochs))
            idx = perm[it * batch:(it + 1) * batch]
            x = F.pad(xtr[idx], (4, 4, 4, 4))
            ox, oy = torch.randint(0, 9, (batch,)), torch.randint(0, 9, (batch,))
            flip = torch.rand(batch) < 0.5
            xb = torch.stack([x[i, :, oy[i]:oy[i] + 32, ox[i]:ox[i] + 32] for i in range(batch)])
            xb = torch.where(flip.view(batch, 1, 1, 1), xb.flip(3), xb)
            out = model(norm(xb))
            loss = F.cross_entropy(out, ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * batch
            correct += (out.argmax(1) == ytr[idx]).sum().item()
        model.eval()
        with torch.no_grad():
            hits = sum((model(norm(xte[i:i + 500])).argmax(1) == yte[i:i + 500]).sum().item()
                       for i in range(0, len(xte), 500))
        print("epoch %d train loss %.4f acc %.2f%% test acc %.2f%% (%.0f s)" %
              (epoch + 1, loss_sum / (steps * batch), 100 * correct / (steps * batch),
               100 * hits / len(xte), time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
