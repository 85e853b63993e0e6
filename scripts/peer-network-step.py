#!/usr/bin/python3
"""PyTorch's time for one training step or inference pass of the paper's other networks.

The peer figure for `lilnetx bench network --network NAME` (the same network, batch, image size,
loss and optimizer: cross-entropy, Adam 0.01; median of --reps after 5 warm-ups on random
inputs), as ../shared/peers/torch_resnet20_step.py is for ResNet-20. Vanilla networks only.

Development tool (the project never depends on Python): /usr/bin/python3 with Debian's
python3-torch, python3-torchvision and libopenblas0-pthread.

    scripts/peer-network-step.py --network vgg16_bn --batch 128 --mode train

CIFAR networks (resnet20/32/44/56/110, vgg11/13/16/19 with _bn) are built here as the zoo builds
them (models/resnet_cifar.cpp, models/vgg.cpp); the ImageNet ones (resnet18/34/50, mobilenetv2)
are torchvision's, which models/resnet_imagenet.h and models/mobilenet_v2.h follow.
"""
import argparse
import os
import statistics
import sys
import time

# As the ResNet-20 peer: glibc's default malloc returns the large activation buffers on every step
# and faults them back in; the peer figure should be PyTorch at its best.
_KEEP_MEMORY = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "68719476736",
                "MALLOC_TOP_PAD_": "1073741824"}
if any(os.environ.get(k) != v for k, v in _KEEP_MEMORY.items()):
    os.environ.update(_KEEP_MEMORY)
    os.execv(sys.executable, [sys.executable] + sys.argv)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fixtures"))
# The option-A basic block the ResNet-20 parity test holds our network to.
from make_resnet20_fixture import Block  # noqa: E402

IMAGENET = {"resnet18", "resnet34", "resnet50", "mobilenetv2"}
VGG_CFG = {
    11: [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
    13: [64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
    16: [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0],
    19: [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0,
         512, 512, 512, 512, 0],
}


class CifarResNet(nn.Module):
    def __init__(self, depth, width, classes):
        super().__init__()
        n = (depth - 2) // 6
        c = 16 * width
        self.stem, self.bn = nn.Conv2d(3, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)
        blocks, cin = [], c
        for stage, cout in enumerate([16 * width, 32 * width, 64 * width]):
            for i in range(n):
                blocks.append(Block(cin, cout, 2 if stage and not i else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn(self.stem(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class Vgg(nn.Module):
    """CIFAR VGG: 3x3 convolutions (batch norm optional), 2x2 max pools, a 512-256-256 head."""

    def __init__(self, depth, batch_norm, classes, dropout=0.5):
        super().__init__()
        layers, cin = [], 3
        for v in VGG_CFG[depth]:
            if v == 0:
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers.append(nn.Conv2d(cin, v, 3, 1, 1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            cin = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(512, 256), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(256, 256), nn.ReLU(True), nn.Dropout(dropout), nn.Linear(256, classes))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def build(name, width, classes, image):
    if name.startswith("resnet") and name not in IMAGENET:
        return CifarResNet(int(name[len("resnet"):]), width, classes)
    if name.startswith("vgg"):
        depth = int(name[3:].removesuffix("_bn"))
        return Vgg(depth, name.endswith("_bn"), classes)
    import torchvision
    if name == "mobilenetv2":
        m = torchvision.models.mobilenet_v2(num_classes=classes, width_mult=float(width))
        if image <= 64:  # the zoo's CIFAR stem: stride 1 (models/mobilenet_v2.h)
            m.features[0][0].stride = (1, 1)
        return m
    return getattr(torchvision.models, name)(num_classes=classes)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--network", default="vgg16_bn")
    ap.add_argument("--width", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--image-size", type=int, default=0,
                    help="input pixels; 0: 224 for ImageNet networks, 32 otherwise")
    ap.add_argument("--mode", choices=["train", "infer"], default="train")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    imagenet = a.network in IMAGENET
    image = a.image_size or (224 if imagenet else 32)
    classes = 1000 if imagenet else 10

    model = build(a.network, a.width, classes, image).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    x = torch.randn(a.batch, 3, image, image, device=dev)
    y = torch.randint(0, classes, (a.batch,), device=dev)

    def train_step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    def infer():
        with torch.no_grad():
            model(x)

    if a.mode == "infer":
        model.eval()
    step = train_step if a.mode == "train" else infer
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(5):
        step()
    sync()
    times = []
    for _ in range(a.reps):
        t = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t)
    ms = statistics.median(times) * 1e3
    size = f" image={a.image_size}" if a.image_size else ""
    print(f"torch {torch.__version__} {a.device} threads={a.threads} {a.network} width={a.width} "
          f"batch={a.batch}{size} vanilla {a.mode}: median {ms:.2f} ms, "
          f"{a.batch / ms * 1e3:.1f} images/s (min {min(times) * 1e3:.2f}, "
          f"max {max(times) * 1e3:.2f})")


if __name__ == "__main__":
    main()
