"""Datasets: image folders for training, and the emoji set the bundled model is trained on."""
