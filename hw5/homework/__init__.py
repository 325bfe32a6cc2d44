"""(a) The homework's steps — exactly what the hand-in script holds (hw5.deliver.amalgamation pastes these
modules into homework5_<names>.py), in the order the data flows:

    kernels.py    which TensorFlow kernels run here, TensorFlow's start-up notices dropped  (step 0)
    data.py       Fashion-MNIST from verified files              (step 1)
    models.py     our Part-1 CNN and the exact Part-2 net        (step 2)
    training.py   seeded, deterministic training with a log      (step 3)
    weights.py    the trained parameters from trainable_variables (step 4)
    geometry.py   kernel, stride and padding → output size, TensorFlow's rules (shared with hw5.convert)
    toeplitz.py   a Conv2D kernel as a fully-connected weight matrix: a plain loop and a vectorized builder (step 5)
    forward.py    Part 2's forward pass written out: matmul + bias, the max-pool loop (step 6)
    compare.py    TensorFlow and NumPy on the same images          (step 7)
    run.py        main(): the whole homework in one run (`python -m hw5.homework`)

Nothing here imports the converter (hw5.convert) or the evidence layer (hw5.deliver); the converter imports
the geometry, the Toeplitz builders and the window loop from here.
"""
