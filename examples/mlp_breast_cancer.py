"""A multi-layer perceptron diagnoses breast tumours from 30 measurements (about 97%).

    python examples/mlp_breast_cancer.py --epochs 20
"""
import argparse

import metalnet
from metalnet import data, models, nn, optim, train

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=20)
args = parser.parse_args()

metalnet.manual_seed(0)
parts = data.split(data.breast_cancer(), (0.7, 0.15, 0.15), seed=0)
# Scale each feature with the training part's mean and spread only: no peeking at test data.
train_set, val_set, test_set = data.standardize(*parts)

model = models.mlp(in_features=30, hidden=(32, 16), num_classes=2)
optimizer = optim.Adam(model.parameters(), lr=1e-3)
loss = nn.CrossEntropyLoss()
train.fit(model, optimizer, loss, data.DataLoader(train_set, 32, shuffle=True),
          data.DataLoader(val_set, 256), epochs=args.epochs)
print("test:", train.evaluate(model, loss, test_set))
