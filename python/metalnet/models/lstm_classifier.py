"""``lstm_classifier``: classify a sequence from the last hidden state of an LSTM."""
from __future__ import annotations

from .. import nn
from ._layers import check_positive

__all__ = ["LSTMClassifier", "lstm_classifier"]


class LSTMClassifier(nn.Module):
    """(Embedding) -> LSTM (batch_first) -> Dropout -> Linear on the top layer's last h.

    With ``vocab_size``: token indices (N, T) -> logits (N, num_classes). Without it: float
    sequences (N, T, input_size), e.g. MNIST rows as 28 steps of 28 pixels.
    """

    def __init__(self, num_classes, vocab_size=None, embed_dim=32, input_size=None,
                 hidden_size=64, num_layers=1, dropout=0.0):
        super().__init__()
        if (vocab_size is None) == (input_size is None):
            raise ValueError("give exactly one of vocab_size (token inputs) and input_size "
                             "(float sequence inputs)")
        if vocab_size is not None:
            self.embedding = nn.Embedding(check_positive(vocab_size, "vocab_size"),
                                          check_positive(embed_dim, "embed_dim"))
            input_size = embed_dim
        else:
            self.embedding = None
        self.lstm = nn.LSTM(check_positive(input_size, "input_size"), hidden_size, num_layers,
                            batch_first=True, dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, check_positive(num_classes, "num_classes"))

    def forward(self, x):
        if self.embedding is not None:
            x = self.embedding(x)
        _, (h_n, _) = self.lstm(x)
        return self.fc(self.dropout(h_n[-1]))


def lstm_classifier(num_classes, vocab_size=None, embed_dim=32, input_size=None, hidden_size=64,
                    num_layers=1, dropout=0.0) -> LSTMClassifier:
    """An LSTM sequence classifier (token or float-vector inputs)."""
    return LSTMClassifier(num_classes, vocab_size, embed_dim, input_size, hidden_size,
                          num_layers, dropout)
