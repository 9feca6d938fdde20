"""The course models written in PyTorch, layer for layer as metalnet.models builds them: the
peers of the training-step benchmarks (`metalnet bench train`, benchmarks/bench_train.py on the
CPU, benchmarks/gpu_bench.py on the GPU). Each builder takes the torch module, so importing this
file needs no PyTorch."""
from __future__ import annotations

from ..models.vgg import CONFIGS as VGG_CONFIGS


def lenet5(torch, input_size=28):
    """models.lenet5(10, 1, input_size=input_size) (28 or 32): tanh, average pooling, 61,706
    parameters; 28x28 inputs are padded by 2 in the first convolution."""
    nn_ = torch.nn
    pad = (32 - input_size) // 2
    return nn_.Sequential(nn_.Conv2d(1, 6, 5, padding=pad), nn_.Tanh(), nn_.AvgPool2d(2),
                          nn_.Conv2d(6, 16, 5), nn_.Tanh(), nn_.AvgPool2d(2), nn_.Flatten(),
                          nn_.Linear(400, 120), nn_.Tanh(), nn_.Linear(120, 84), nn_.Tanh(),
                          nn_.Linear(84, 10))


def resnet18_cifar(torch, num_classes=10, width=64):
    """models.resnet18(num_classes, stem="cifar", width=width): one 3x3 stem convolution, no
    pooling, four stages of two basic blocks."""
    nn_ = torch.nn

    class Block(nn_.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn_.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn_.BatchNorm2d(cout)
            self.conv2 = nn_.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn_.BatchNorm2d(cout)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn_.Sequential(nn_.Conv2d(cin, cout, 1, stride, bias=False),
                                           nn_.BatchNorm2d(cout))

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return torch.relu(out + (x if self.down is None else self.down(x)))

    layers = [nn_.Conv2d(3, width, 3, 1, 1, bias=False), nn_.BatchNorm2d(width), nn_.ReLU()]
    cin = width
    for stage in range(4):
        cout = width * 2 ** stage
        for i in range(2):
            layers.append(Block(cin, cout, (1 if stage == 0 else 2) if i == 0 else 1))
            cin = cout
    layers += [nn_.AdaptiveAvgPool2d(1), nn_.Flatten(), nn_.Linear(cin, num_classes)]
    return nn_.Sequential(*layers)


def vgg11_bn(torch, num_classes=10):
    """models.vgg11(num_classes=num_classes) for 32x32 inputs: configuration A with batch norm
    (so no convolution bias), then Linear(512, 512) -> ReLU -> Dropout -> Linear(512, 512) ->
    ReLU -> Dropout -> Linear."""
    nn_ = torch.nn
    layers, cin = [], 3
    for item in VGG_CONFIGS[11]:
        if item == "M":
            layers.append(nn_.MaxPool2d(2))
        else:
            layers += [nn_.Conv2d(cin, item, 3, padding=1, bias=False), nn_.BatchNorm2d(item),
                       nn_.ReLU()]
            cin = item
    layers += [nn_.Flatten(), nn_.Linear(cin, cin), nn_.ReLU(), nn_.Dropout(0.5),
               nn_.Linear(cin, cin), nn_.ReLU(), nn_.Dropout(0.5), nn_.Linear(cin, num_classes)]
    return nn_.Sequential(*layers)
