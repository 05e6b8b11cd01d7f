"""Image-quality and distribution metrics for synthetic images, and a memorization audit.

Importing this package loads Numba (``import medsynth`` does not). Kernels compile on first call and are
cached on disk (``cache=True``), so the compile cost is paid once per machine, never at import.
"""

from medsynth.metrics.gmsd import gmsd, ms_gmsd
from medsynth.metrics.haarpsi import haarpsi
from medsynth.metrics.mdsi import mdsi
from medsynth.metrics.psnr import psnr
from medsynth.metrics.ssim import ms_ssim, ssim

__all__ = ["psnr", "ssim", "ms_ssim", "gmsd", "ms_gmsd", "mdsi", "haarpsi"]
