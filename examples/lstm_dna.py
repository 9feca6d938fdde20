"""An LSTM finds a planted motif (TATAAT) in generated DNA sequences (about 99%).

    python examples/lstm_dna.py --epochs 12
"""
import argparse

import metalnet
from metalnet import data, models, nn, optim, train

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=12)
args = parser.parse_args()

metalnet.manual_seed(0)
dna = data.dna_motifs(n=3000, length=30, motifs=("TATAAT",), seed=0)   # (N, 30, 4) one-hot
train_set, val_set, test_set = data.split(dna, (0.7, 0.15, 0.15), seed=0)

model = models.lstm_classifier(num_classes=2, input_size=4, hidden_size=32)
optimizer = optim.Adam(model.parameters(), lr=3e-3)
loss = nn.CrossEntropyLoss()
# Clipping keeps one exploding gradient from throwing away what the LSTM has learnt.
train.fit(model, optimizer, loss, data.DataLoader(train_set, 32, shuffle=True),
          data.DataLoader(val_set, 256), epochs=args.epochs, clip_grad_norm=1.0)
print("test:", train.evaluate(model, loss, test_set))
