"""`python -m deepfeat.cli ...`, the same as the `deepfeat` console script."""

from deepfeat.cli import main

main()
