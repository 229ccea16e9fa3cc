"""Beyond zero-shot: strategies that spend part of the budget on the user's own data.

`refine` races the zero-shot top-k in small pause-and-resume slices, guided by a learning-curve
predictor meta-trained on the meta-dataset's stored curves; `replay` runs the same policies on those
stored curves instead of training, which is how they are judged under LOCO; `tune` is SMAC3
multi-fidelity HPO on the user's dataset, warm-started with the zero-shot top-k.
"""
