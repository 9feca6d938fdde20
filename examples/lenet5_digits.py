"""LeNet-5 on scikit-learn's handwritten digits, upsampled to 28x28 (about 98% test accuracy).

    python examples/lenet5_digits.py --epochs 10
"""
import argparse

import metalnet
from metalnet import data, models, nn, optim, train

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=10)
args = parser.parse_args()

metalnet.manual_seed(0)
train_set, val_set, test_set = data.split(data.digits(size=28), (0.7, 0.15, 0.15), seed=0)
model = models.lenet5(num_classes=10, in_channels=1, input_size=28)
optimizer = optim.Adam(model.parameters(), lr=2e-3)
loss = nn.CrossEntropyLoss()

history = train.fit(model, optimizer, loss, data.DataLoader(train_set, 32, shuffle=True),
                    data.DataLoader(val_set, 256), epochs=args.epochs)
print("test:", train.evaluate(model, loss, test_set))
metalnet.save(model, "lenet5_digits.npz")
