"""tfvae: variational autoencoders on TensorFlow 2.21, Keras 3 and TensorFlow Probability."""

import setuptools

setuptools.setup(
    name="tfvae",
    version="0.1.0",
    description="Variational autoencoders on TensorFlow, Keras 3 and TensorFlow Probability",
    long_description=open("README.md").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # The apps and the export command live at the repository's top level (python -m apps.train from a checkout) and
    # install under the package's own name, tfvae.apps and tfvae.export, so they claim no generic top-level names.
    packages=setuptools.find_packages(include=["tfvae", "tfvae.*"]) + ["tfvae.apps", "tfvae.export"],
    package_dir={"tfvae.apps": "apps", "tfvae.export": "export"},
    entry_points={"console_scripts": [
        "tfvae-train=tfvae.apps.train:run",
        "tfvae-evaluate=tfvae.apps.evaluate:run",
        "tfvae-sample=tfvae.apps.sample:run",
        "tfvae-classify=tfvae.apps.classify:run",
        "tfvae-denoise=tfvae.apps.denoise:run",
        "tfvae-restore=tfvae.apps.restore:run",
        "tfvae-train-patch-prior=tfvae.apps.train_patch_prior:run",
        "tfvae-train-denoiser=tfvae.apps.train_denoiser:run",
        "tfvae-colorize=tfvae.apps.colorize:run",
        "tfvae-export=tfvae.export.__main__:run",
    ]},
    package_data={"tfvae.data": ["*.gz"], "tfvae.restoration": ["*.npz", "*.keras", "*.png"],
                  "tfvae.colorization": ["*.keras", "demo/*.png"]},
    install_requires=[
        # A set measured to install and import together on Python 3.11 (BUILD.md).
        "tensorflow==2.21.0",
        "keras==3.15.1",
        "tf-keras==2.21.0",  # TFP 0.25 imports it; tfvae itself uses no Keras 2 object
        "tensorflow-probability==0.25.0",
        "tensorflow-datasets==4.9.10",
        "importlib_resources",  # TFDS 4.9.10 needs it to download and does not declare it
        "tensorboard==2.21.0",  # tf.summary needs it; TF 2.21 no longer installs it
        "absl-py>=2.1",
        "numpy>=1.26",
        "pillow>=10",  # image files, TIFF included
    ],
    extras_require={
        "test": ["pytest>=8"],
        "bench": ["scikit-image>=0.24", "PyWavelets>=1.6", "bm3d>=4.0"],  # benchmarks/denoise_set12.py baselines
        "and-cuda": ["tensorflow[and-cuda]==2.21.0"],
    },
)
