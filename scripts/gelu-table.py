#!/usr/bin/env python3
"""Prints gpu-verify's numerics v2 GELU table (GELU_TABLE_Q16 in gpu-verify/core/src/numerics.rs):
round(gelu(k / 64) * 2^16) for k in [-512, 512], gelu(x) = x/2 (1 + erf(x / sqrt 2)) in float64.

    python3 -m pip install numpy scipy && scripts/gelu-table.py
"""
import math

import numpy as np
from scipy.special import erf

xs = np.arange(-512, 513) / 64.0
table = [int(v) for v in np.round(0.5 * xs * (1 + erf(xs / math.sqrt(2))) * 65536)]
for i in range(0, len(table), 12):
    print("    " + ", ".join(str(v) for v in table[i : i + 12]) + ",")
