"""Colorization with a latent segmentation (tfvae/models/colorizer.py): colour space, data, metrics, inference.

The modules sit on three floors around the model, and imports only go down (tests/test_colorization_floors.py):

1. below the model, importing nothing of tfvae.models: `colour` (sRGB <-> CIE Lab, image conventions), `metrics`
   (NumPy scores of colourings) and `data` (colour image folders, training crops).
2. the model, tfvae/models/colorizer.py: from this package it imports `colour` alone.
3. above the model: `inference` (tfvae.colorize, the shipped model), `baseline` (the L2-regression baseline),
   `evaluation` (scores of colorizers and of their segmentations) and `pictures` (segmentation pictures); they may
   import the model and floor 1.

So the model never imports a module that imports models, and this package has no cycle with tfvae.models.
"""
