"""Neural regularisation of image classifiers (Li et al., NeurIPS 2019), with its controls.

A classifier is trained with cross-entropy plus a penalty that pulls the image-to-image
similarity of its intermediate representations towards a *similarity target* computed from
responses of mouse V1 to a set of stimulus images. Here the responses come from a digital
twin (the paper's denoised responses), and the same training runs with the controls a user
needs to tell whether the brain helps: no penalty, a shuffled target, a pixel-similarity
target, a single-trial response target and, on a simulated mouse, the true-rate target.

Modules: :mod:`~neurotwin.neuroreg.target` (similarity targets),
:mod:`~neurotwin.neuroreg.sources` (their responses), :mod:`~neurotwin.neuroreg.target_cache`,
:mod:`~neurotwin.neuroreg.classifier` (a small ResNet), :mod:`~neurotwin.neuroreg.penalty`,
:mod:`~neurotwin.neuroreg.train`, :mod:`~neurotwin.neuroreg.tasks` (the offline shapes task
and a CIFAR-10 reader) and :mod:`~neurotwin.neuroreg.robustness`.
"""

from __future__ import annotations

from neurotwin.neuroreg.errors import NeuroregError

__all__ = ["NeuroregError"]
