#!/usr/bin/env bash
# Creates bench/peers/.venv with CPU PyTorch, torchattacks 3.5.1, safetensors and numpy
# (for the peer comparator only; never run by CI). The CPU-only wheel index is used when
# download.pytorch.org is reachable; otherwise torch comes from PyPI.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
pip=.venv/bin/pip
$pip install -q --upgrade pip
cpu=https://download.pytorch.org/whl/cpu
if curl -sSf -m 10 -o /dev/null "$cpu/torch/" 2>/dev/null; then
  $pip install -q torch --index-url "$cpu"
else
  echo "setup: $cpu unreachable, installing torch from PyPI" >&2
  $pip install -q torch
fi
$pip install -q torchattacks==3.5.1 safetensors numpy
.venv/bin/python -c "import torch, torchattacks; print('torch', torch.__version__, 'torchattacks', torchattacks.__version__, 'threads', torch.get_num_threads())"
