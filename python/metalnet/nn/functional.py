"""``metalnet.nn.functional``: the differentiable operations, as in ``metalnet.functional``."""
from ..functional import *  # noqa: F401,F403
from ..functional import __all__  # noqa: F401
