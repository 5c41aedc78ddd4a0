#!/usr/bin/env bash
# Creates bench/pytorch/.venv with PyTorch and numpy from PyPI (for the comparator only).
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q torch numpy
.venv/bin/python -c "import torch; print('torch', torch.__version__, 'threads', torch.get_num_threads())"
