"""A convolutional autoencoder learns to redraw 16x16 digits; writes originals vs
reconstructions to autoencoder_digits.png (when matplotlib is installed).

    python examples/autoencoder_digits.py --epochs 15
"""
import argparse

import metalnet
from metalnet import data, models, nn, optim, train

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=15)
args = parser.parse_args()

metalnet.manual_seed(0)
images = data.digits(size=16).inputs
# The target of a reconstruction is the input itself.
pairs = data.ArrayDataset(images, images, task="reconstruction")
train_set, val_set, test_set = data.split(pairs, (0.7, 0.15, 0.15), seed=0)

model = models.autoencoder("conv", in_channels=1, channels=(16, 32))   # 16 -> 8 -> 4 -> 16
loss = nn.MSELoss()
print("test MSE before:", train.evaluate(model, loss, test_set)["loss"])
train.fit(model, optim.Adam(model.parameters(), lr=2e-3), loss,
          data.DataLoader(train_set, 32, shuffle=True), data.DataLoader(val_set, 256),
          epochs=args.epochs)
print("test MSE after: ", train.evaluate(model, loss, test_set)["loss"])

try:
    from matplotlib.figure import Figure
except ImportError:
    raise SystemExit(0)
model.eval()
with metalnet.no_grad():
    redrawn = model(metalnet.tensor(test_set.inputs[:8])).numpy()
fig = Figure(figsize=(8, 2))
for i in range(8):
    for row, picture in enumerate((test_set.inputs[i, 0], redrawn[i, 0])):
        ax = fig.add_subplot(2, 8, row * 8 + i + 1)
        ax.imshow(picture, cmap="gray_r")
        ax.axis("off")
fig.savefig("autoencoder_digits.png")
print("wrote autoencoder_digits.png (top: originals, bottom: reconstructions)")
