"""The training wing: everything that combines the four buckets to train a classifier.

setup.py builds what a training step needs from (recipe, data, device, seed), once;
loop.py is the training loop; callbacks.py the events it sends (display.py shows them);
classifier.py the model wrapper; scoring.py runs a model over batches; step.py the optimizer
step; lr_finder.py and batch_finder.py the finders, which train through the same setup.
"""
