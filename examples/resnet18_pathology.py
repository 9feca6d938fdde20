"""ResNet-18 tells DAB-stained from unstained tissue in patches of an IHC slide.

Labels come from colour deconvolution of the stain (see metalnet.data.pathology). The network
is the real ResNet-18 layout (CIFAR stem for 32x32 patches) at a quarter of the usual width,
so that it trains on a laptop CPU.

    python examples/resnet18_pathology.py --epochs 8
"""
import argparse

import metalnet
from metalnet import data, models, nn, optim, train

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=8)
parser.add_argument("--width", type=int, default=16, help="64 is the full-size ResNet-18")
args = parser.parse_args()

metalnet.manual_seed(0)
patches = data.pathology_patches(size=32)            # (256, 3, 32, 32), labels 0/1
train_set, val_set, test_set = data.split(patches, (0.7, 0.15, 0.15), seed=0)

model = models.resnet18(num_classes=2, stem="cifar", width=args.width, in_channels=3)
optimizer = optim.Adam(model.parameters(), lr=1e-3)
loss = nn.CrossEntropyLoss()
history = train.fit(model, optimizer, loss, data.DataLoader(train_set, 32, shuffle=True),
                    data.DataLoader(val_set, 64), epochs=args.epochs)
print("test:", train.evaluate(model, loss, test_set, batch_size=64))
try:
    print("curves:", history.plot("resnet18_pathology.png", title="ResNet-18, IHC patches"))
except ImportError as exc:
    print(exc)
